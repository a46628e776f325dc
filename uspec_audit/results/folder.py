"""A results folder, and what in it belongs to uspec-audit.

A folder is ours when it holds the marker file ``.uspec-audit`` (written when a
run first claims a new or empty folder). A run refuses a non-empty folder
without the marker, and a file that is not a folder. Inside our folder we own
exactly the files the last complete run lists in its manifest (``files``), the
manifest itself, the prediction cache (``.cache/``), our lock, journal and
staging files -- and nothing else: a file a user puts there is left alone.

Folders written by uspec-audit 0.1 (a uspec-audit ``manifest.json`` but no
marker) are adopted: they own the result names that version wrote.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from uspec_audit.errors import AuditFileError, OutputError, describe_os_error
from uspec_audit.results.writer import write_json

MARKER = ".uspec-audit"
MARKER_RECORD = {
    "tool": "uspec-audit",
    "kind": "results folder",
    "format": 1,
    "note": "Written by uspec-audit: this folder holds audit results. uspec-audit changes only the "
    "files it wrote here.",
}
CACHE = ".cache"
MANIFEST = "manifest.json"
# The only names a results file can have: a manifest that lists anything else cannot make us touch it.
RESULT_NAME = re.compile(
    r"^([a-z_]+\.parquet|report\.(html|md|pdf)"
    r"|predictions/ensemble=[^/]+/test=[^/]+/variant=[^/]+/part-0\.parquet)$"
)
LEGACY_FILES = (
    "metrics.parquet",
    "summary.parquet",
    "contracts.parquet",
    "correlations.parquet",
    "calibration.parquet",
    "pca.parquet",
    "marginalization.parquet",
    "rex.parquet",
    "flips.parquet",
    "disagreement.parquet",
    "corruptions.parquet",
    "differences.parquet",
    "report.html",
    "report.pdf",
    "report.md",
)


def is_result_name(relative: str) -> bool:
    """Whether ``relative`` (a POSIX path inside the folder) is a name a run writes."""
    return bool(RESULT_NAME.match(relative)) and ".." not in relative.split("/")


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _has_marker(path: Path) -> bool:
    marker = path / MARKER
    return marker.is_file() and (_read_json(marker) or {}).get("tool") == "uspec-audit"


def _is_legacy(path: Path) -> bool:
    """A folder of uspec-audit 0.1: its manifest, or only its prediction cache."""
    manifest = _read_json(path / MANIFEST) if (path / MANIFEST).is_file() else None
    if manifest is not None and (manifest.get("tool") or {}).get("name") == "uspec-audit":
        return True
    return {p.name for p in path.iterdir()} == {CACHE}


@dataclass
class ResultsFolder:
    """A results folder that uspec-audit owns."""

    path: Path

    @classmethod
    def claim(cls, path: Path) -> ResultsFolder:
        """The results folder at ``path`` for writing: created if absent, marked if empty; refuse a file, a
        non-empty folder that is not ours, and a folder we cannot write (all exit 2)."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise AuditFileError(
                f"the results folder {path} is a file, not a folder. Choose a folder with --out."
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
            entries = list(path.iterdir())
        except OSError as error:
            raise AuditFileError(
                f"cannot create or read the results folder {path}: {describe_os_error(error)}. "
                f"Choose another folder with --out."
            ) from error
        if not _has_marker(path):
            if entries and not _is_legacy(path):
                shown = ", ".join(sorted(p.name for p in entries)[:5]) + (", ..." if len(entries) > 5 else "")
                raise AuditFileError(
                    f"{path} is not empty ({shown}) and is not a uspec-audit results folder (it has no {MARKER} "
                    f"marker). uspec-audit writes only into a new or empty folder, or one it created, so that it "
                    f"never overwrites or deletes files it did not write. Choose another folder with --out."
                )
            try:
                write_json(MARKER_RECORD, path / MARKER)
            except OutputError as error:
                raise AuditFileError(
                    f"{error} The results folder is not writable: choose another one with --out."
                ) from error
        return cls(path)

    @classmethod
    def existing(cls, path: Path) -> ResultsFolder:
        """A results folder to read (``report``, ``cache``): it must exist and be ours or a 0.1 one."""
        path = Path(path)
        if not path.is_dir():
            raise AuditFileError(f"{path}: no such results folder.")
        if not (_has_marker(path) or _is_legacy(path)):
            raise AuditFileError(
                f"{path} is not a uspec-audit results folder (no {MARKER} marker and no "
                f"manifest.json written by uspec-audit)."
            )
        return cls(path)

    @property
    def cache_dir(self) -> Path:
        return self.path / CACHE / "predictions"

    def manifest(self) -> dict | None:
        """The current manifest (None when absent or unreadable)."""
        return _read_json(self.path / MANIFEST) if (self.path / MANIFEST).is_file() else None

    def owned_files(self) -> list[str]:
        """Relative paths of the result files of the current complete run (what the next commit may replace
        or delete); only names a run writes are ever returned."""
        manifest = self.manifest()
        if manifest is None:
            return []
        if isinstance(manifest.get("files"), list):
            names = [entry.get("path") for entry in manifest["files"] if isinstance(entry, dict)]
        else:  # 0.1 manifests have no file list: the names that version wrote
            names = [n for n in LEGACY_FILES if (self.path / n).is_file()]
            names += [
                p.relative_to(self.path).as_posix()
                for p in (self.path / "predictions").glob("*/*/*/part-0.parquet")
            ]
        return sorted({n for n in names if isinstance(n, str) and is_result_name(n)})
