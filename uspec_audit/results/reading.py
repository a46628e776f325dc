"""Open a results folder for reading: finish an interrupted commit, hold it stable, check its files.

``report`` and ``cache info`` read a folder that a run may be committing to at
the same moment, or that a killed run left mid-commit. Reading holds the
shared commit lock (a commit never happens under a reader), finishes an
interrupted commit first when no run is active, and checks every table the
manifest lists against its recorded size and sha256, so a damaged or edited
table is refused with a clear message instead of being rendered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from uspec_audit.errors import AuditFileError, describe_os_error
from uspec_audit.results.folder import MANIFEST, ResultsFolder, is_result_name
from uspec_audit.results.lock import FolderLock, LockHeld, commit_lock
from uspec_audit.results.staging import JOURNAL, recover


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _finish_interrupted_commit(folder: ResultsFolder) -> list[str]:
    try:
        lock = FolderLock(folder.path).acquire(wait=False)
    except LockHeld:
        return []  # a run is active: its commit finishes under the commit lock we wait for next
    except OSError as error:
        raise AuditFileError(
            f"{folder.path}: a run was interrupted while moving its results into place, and the "
            f"folder is not writable ({describe_os_error(error)}), so the move cannot be finished. "
            f"Run `uspec-audit report` where the folder is writable."
        ) from error
    try:
        return recover(folder)
    finally:
        lock.release()


def check_manifest(folder: Path) -> dict | None:
    """The manifest as a JSON object, None if absent; a damaged one is an error (exit 2)."""
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise AuditFileError(
            f"{path} is damaged ({type(error).__name__}: {error}); the results folder cannot be "
            f"trusted. Run the audit again."
        ) from error
    if not isinstance(manifest, dict):
        raise AuditFileError(f"{path} is damaged (not a JSON object); run the audit again.")
    return manifest


def check_tables(folder: Path, manifest: dict) -> None:
    """Every table the manifest lists has its recorded size and sha256 (predictions are not read by reports
    and are checked by size only); a manifest without a file list (uspec-audit 0.1) gets a Parquet check."""
    import pyarrow.parquet as pq

    entries = manifest.get("files")
    if not isinstance(entries, list):
        for table in sorted(folder.glob("*.parquet")):
            try:
                pq.read_metadata(table)
            except Exception as error:  # pyarrow raises several types for a damaged file
                raise AuditFileError(
                    f"{table} is not a readable Parquet file ({type(error).__name__}); the "
                    f"results are damaged. Run the audit again."
                ) from error
        return
    for entry in entries:
        name = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not is_result_name(name) or not name.endswith(".parquet"):
            continue
        path = folder / name
        if not path.is_file():
            raise AuditFileError(
                f"{path} is missing, but manifest.json lists it; the results are incomplete. Run "
                f"the audit again."
            )
        damaged = path.stat().st_size != entry.get("bytes")
        if not damaged and not name.startswith("predictions/"):
            damaged = _sha256(path) != entry.get("sha256")
        if damaged:
            raise AuditFileError(
                f"{path} does not match the size and sha256 recorded in manifest.json: it was "
                f"damaged or changed after the run. Run the audit again."
            )


@contextmanager
def reading(path: Path, verify: bool = True) -> Iterator[tuple[ResultsFolder, list[str]]]:
    """The results folder at ``path`` and notes on what was repaired, stable while the block runs."""
    if not Path(path).is_dir():
        raise AuditFileError(f"{path}: no such results folder.")
    folder = ResultsFolder(Path(path))  # reading needs no ownership; finishing a commit happens only in ours
    notes = _finish_interrupted_commit(folder) if (folder.path / JOURNAL).exists() else []
    lock = commit_lock(folder.path, shared=True)
    try:
        if verify:
            manifest = check_manifest(folder.path)
            if manifest is not None and manifest.get("status") == "complete":
                check_tables(folder.path, manifest)
        yield folder, notes
    finally:
        if lock is not None:
            lock.release()
