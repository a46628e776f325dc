"""What is in a results folder's prediction cache, and pruning it (``uspec-audit cache info|prune``).

The cache is ``<results>/.cache/predictions/``. Its entries are files named
``<64 hex digits>.unit`` (checksummed), plus ``<64 hex digits>.npz`` left by
uspec-audit 0.1 (never read now) and ``.tmp-*`` files of a write that was
killed. Nothing else in the folder is ours, and nothing else is ever removed.
An entry is *referenced* when the manifest of the last complete run lists its
key under ``units``: re-running that audit unchanged reuses exactly these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from uspec_audit.engine.cache import ENTRY, LEGACY_ENTRY, PARTIAL, DamagedEntry, verify_entry
from uspec_audit.errors import AuditFileError
from uspec_audit.results.folder import ResultsFolder


@dataclass
class CacheEntry:
    """One file of the cache that is ours."""

    path: Path
    bytes: int
    kind: str  # "entry" | "legacy" | "partial"
    referenced: bool = False
    damaged: bool | None = None  # None: not verified

    @property
    def key(self) -> str:
        return self.path.name.split(".")[0]


def referenced_keys(folder: ResultsFolder) -> set[str] | None:
    """Keys the last complete run used, or None when the folder has no complete run that lists them."""
    manifest = folder.manifest()
    if not manifest or manifest.get("status") != "complete" or not isinstance(manifest.get("units"), list):
        return None
    return {u["key"] for u in manifest["units"] if isinstance(u, dict) and isinstance(u.get("key"), str)}


def inventory(folder: ResultsFolder, verify: bool = False) -> list[CacheEntry]:
    """Every cache file of ours, sorted by name; with ``verify``, each entry's checksum is checked."""
    cache = folder.cache_dir
    if not cache.is_dir():
        return []
    referenced = referenced_keys(folder) or set()
    entries = []
    for path in sorted(cache.iterdir()):
        if not path.is_file() or path.is_symlink():
            continue
        kind = ("entry" if ENTRY.match(path.name) else "legacy" if LEGACY_ENTRY.match(path.name)
                else "partial" if PARTIAL.match(path.name) else None)
        if kind is None:
            continue
        entry = CacheEntry(path, path.stat().st_size, kind)
        entry.referenced = kind == "entry" and entry.key in referenced
        if verify and kind == "entry":
            try:
                verify_entry(path)
                entry.damaged = False
            except (DamagedEntry, OSError):
                entry.damaged = True
        entries.append(entry)
    return entries


def prune(folder: ResultsFolder, everything: bool = False) -> list[CacheEntry]:
    """Remove the entries the last complete run does not reference, damaged ones, 0.1 leftovers and partial
    writes -- or, with ``everything``, every entry. Returns what was removed. Hold the writer lock."""
    if not everything and referenced_keys(folder) is None:
        raise AuditFileError(f"{folder.path} has no complete run that lists its cache entries, so uspec-audit "
                             f"cannot tell which to keep. Use --all to empty the cache.")
    removed = []
    for entry in inventory(folder, verify=not everything):
        if everything or not entry.referenced or entry.damaged:
            entry.path.unlink(missing_ok=True)
            removed.append(entry)
    return removed
