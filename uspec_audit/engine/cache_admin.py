"""What is in a results folder's cache, and pruning it (``uspec-audit cache info|prune``).

The cache is ``<results>/.cache/`` with one folder per store:

- ``predictions/``: files ``<64 hex digits>.unit`` (checksummed), plus
  ``<64 hex digits>.npz`` left by uspec-audit 0.1 (never read now);
- ``statistics/``: files ``<64 hex digits>.stats``, the result tables of a run;
- ``reports/``: files ``<64 hex digits>.reports``, the rendered reports of a run;

and, in each, ``.tmp-*`` files of a write that was killed. Nothing else in
those folders is ours, and nothing else is ever removed. An entry is
*referenced* when the manifest of the last complete run lists its key
(``units`` for predictions, ``statistics_key``, ``reports_key``): re-running
that audit unchanged reuses exactly these.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from uspec_audit.engine.bundle_cache import STORES, DamagedBundle, verify_bundle
from uspec_audit.engine.cache import ENTRY, LEGACY_ENTRY, PARTIAL, DamagedEntry, verify_entry
from uspec_audit.errors import AuditFileError
from uspec_audit.results.folder import ResultsFolder

PREDICTIONS = "predictions"
STORE_NAMES = (PREDICTIONS, *(store.name for store in STORES))


@dataclass
class CacheEntry:
    """One file of the cache that is ours."""

    path: Path
    bytes: int
    kind: str  # "entry" | "legacy" | "partial"
    referenced: bool = False
    damaged: bool | None = None  # None: not verified
    store: str = PREDICTIONS  # "predictions" | "statistics" | "reports"

    @property
    def key(self) -> str:
        return self.path.name.split(".")[0]


def referenced_keys(folder: ResultsFolder) -> set[str] | None:
    """Keys the last complete run used (every store), or None when the folder has no complete run that lists
    them."""
    manifest = folder.manifest()
    if not manifest or manifest.get("status") != "complete" or not isinstance(manifest.get("units"), list):
        return None
    keys = {u["key"] for u in manifest["units"] if isinstance(u, dict) and isinstance(u.get("key"), str)}
    keys |= {
        manifest[name] for name in ("statistics_key", "reports_key") if isinstance(manifest.get(name), str)
    }
    return keys


_Store = tuple[str, Path, re.Pattern[str], re.Pattern[str] | None, re.Pattern[str], Callable[[Path], object]]


def _stores(folder: ResultsFolder) -> list[_Store]:
    """(store name, folder, entry pattern, legacy pattern or None, partial pattern, verify function)."""
    stores: list[_Store] = [(PREDICTIONS, folder.cache_dir, ENTRY, LEGACY_ENTRY, PARTIAL, verify_entry)]
    for store in STORES:
        stores.append(
            (store.name, store.folder(folder.path), store.entry(), None, store.partial(), verify_bundle)
        )
    return stores


def inventory(folder: ResultsFolder, verify: bool = False) -> list[CacheEntry]:
    """Every cache file of ours, by store and name; with ``verify``, each entry's checksum is checked."""
    referenced = referenced_keys(folder) or set()
    entries = []
    for name, cache, entry_name, legacy_name, partial_name, verify_one in _stores(folder):
        if not cache.is_dir():
            continue
        for path in sorted(cache.iterdir()):
            if not path.is_file() or path.is_symlink():
                continue
            kind = (
                "entry"
                if entry_name.match(path.name)
                else "legacy"
                if legacy_name is not None and legacy_name.match(path.name)
                else "partial"
                if partial_name.match(path.name)
                else None
            )
            if kind is None:
                continue
            entry = CacheEntry(path, path.stat().st_size, kind, store=name)
            entry.referenced = kind == "entry" and entry.key in referenced
            if verify and kind == "entry":
                try:
                    verify_one(path)
                    entry.damaged = False
                except (DamagedEntry, DamagedBundle, OSError):
                    entry.damaged = True
            entries.append(entry)
    return entries


def prune(folder: ResultsFolder, everything: bool = False) -> list[CacheEntry]:
    """Remove the entries the last complete run does not reference, damaged ones, 0.1 leftovers and partial
    writes -- or, with ``everything``, every entry. Returns what was removed. Hold the writer lock."""
    if not everything and referenced_keys(folder) is None:
        raise AuditFileError(
            f"{folder.path} has no complete run that lists its cache entries, so uspec-audit "
            f"cannot tell which to keep. Use --all to empty the cache."
        )
    removed = []
    for entry in inventory(folder, verify=not everything):
        if everything or not entry.referenced or entry.damaged:
            entry.path.unlink(missing_ok=True)
            removed.append(entry)
    return removed
