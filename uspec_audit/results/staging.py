"""Build new results in a staging folder, then move them into place with a journaled commit.

A run writes every table, prediction file and report into
``<results>/.staging-XXXX/``, the manifest last. Nothing in the results folder
changes until then, so a run that fails or is interrupted before its commit
leaves the previous complete results exactly as they were (the next run
removes the abandoned staging folder).

The commit, under the exclusive commit lock:

1. writes the journal ``.uspec-audit.commit`` (the staged file list and the
   files of the previous run it replaces), atomically and flushed to disk:
   from here on the commit is decided and will be completed;
2. removes the previous ``manifest.json``: the folder stops claiming to be
   complete;
3. removes the previous run's files that the new run does not write;
4. renames every staged file into place, the manifest last: from this rename
   on, the folder is complete again, with the new results;
5. removes the staging folder, then the journal.

Each step is one idempotent file operation, so a process killed at any
instant leaves either the previous complete results (before 2), the new
complete results (after 4), or -- in between -- a folder without a manifest,
which no reader takes for complete. The next ``run`` or ``report`` finds the
journal and rolls the commit forward from the staged files, which are complete
because the journal is written only after the staged manifest. We roll forward
rather than back because after step 3 the previous files are gone, while the
new ones are all there. The journal names only files with result names (see
:mod:`uspec_audit.results.folder`), so a damaged or forged journal cannot make
the tool touch anything else.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from uspec_audit.errors import AuditFileError, OutputError, describe_os_error
from uspec_audit.results.folder import MANIFEST, ResultsFolder, is_result_name
from uspec_audit.results.lock import FolderLock, commit_lock
from uspec_audit.results.writer import fsync_directory, write_json

JOURNAL = ".uspec-audit.commit"
STAGING = re.compile(r"^\.staging-[A-Za-z0-9_]+$")
# Temporary files of our atomic writes in the folder itself (marker, journal).
_OUR_TEMPORARY = re.compile(r"^\.(uspec-audit[a-z.-]*)\.[A-Za-z0-9_]+\.tmp$")


def _exclusive_commit_lock(folder: Path) -> FolderLock:
    """The commit lock, exclusively; a folder that can no longer hold its lock file cannot be committed to."""
    lock = commit_lock(folder, shared=False)
    if lock is None:
        raise OutputError(
            f"cannot move the results into {folder}: its lock file cannot be created (was the folder "
            f"removed during the run?)."
        )
    return lock


class Staging:
    """A private folder inside the results folder where one run assembles its results."""

    def __init__(self, folder: ResultsFolder):
        self.folder = folder
        try:
            self.path = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder.path))
        except OSError as error:
            raise OutputError(f"cannot write to {folder.path}: {describe_os_error(error)}.") from error
        self.committed = False

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc) -> None:
        if not self.committed:
            self.discard()

    def discard(self) -> None:
        """Remove the staging folder and everything in it (all of it written by this run)."""
        shutil.rmtree(self.path, ignore_errors=True)

    def files(self) -> list[str]:
        """Relative POSIX paths of every staged file."""
        return sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file())

    def commit(self) -> None:
        """Move the staged results into place (see the module docstring); the staged manifest must exist."""
        new = self.files()
        if MANIFEST not in new:
            raise RuntimeError("commit without a staged manifest")
        unexpected = [f for f in new if f != MANIFEST and not is_result_name(f)]
        if unexpected:
            raise RuntimeError(f"staged files with names a run does not write: {unexpected}")
        with _exclusive_commit_lock(self.folder.path):
            old = self.folder.owned_files()
            foreign = [f for f in new if f != MANIFEST and f not in old and (self.folder.path / f).exists()]
            if foreign:
                raise AuditFileError(
                    f"{self.folder.path} holds {', '.join(foreign[:3])}, which uspec-audit did not "
                    f"write; move it away or choose another results folder with --out."
                )
            journal = {"format": 1, "staging": self.path.name, "new": new, "old": old}
            write_json(journal, self.folder.path / JOURNAL)
            fsync_directory(self.folder.path)
            for _, operation in commit_operations(self.folder.path, journal):
                operation()
        self.committed = True


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _remove_owned(folder: Path, relative: str) -> None:
    """Remove one of our files and the folders it leaves empty (up to the results folder)."""
    target = folder / relative
    target.unlink(missing_ok=True)
    parent = target.parent
    while parent != folder:
        try:
            parent.rmdir()
        except OSError:  # not empty, or gone
            break
        parent = parent.parent


def _move_in(staging: Path, folder: Path, relative: str) -> None:
    source = staging / relative
    if source.exists():  # else it was moved before an interruption
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        source.replace(folder / relative)


def commit_operations(folder: Path, journal: dict) -> list[tuple[str, Callable[[], None]]]:
    """The commit of ``journal`` as a list of single, idempotent file operations, in order.

    Computed from the state on disk, so a commit interrupted anywhere is finished by computing and running
    the list again.
    """
    staging = folder / journal["staging"]
    new = [f for f in journal["new"] if is_result_name(f)]
    old = [f for f in journal["old"] if is_result_name(f)]
    operations: list[tuple[str, Callable[[], None]]] = []
    if (staging / MANIFEST).exists():  # the new manifest is not in place yet
        operations.append(("withdraw the previous manifest", partial(_unlink, folder / MANIFEST)))
        operations += [(f"remove {f}", partial(_remove_owned, folder, f)) for f in old if f not in new]
        operations += [(f"move in {f}", partial(_move_in, staging, folder, f)) for f in new]
        operations.append(("publish the new manifest", partial(_move_in, staging, folder, MANIFEST)))
        operations.append(("flush the folder", partial(fsync_directory, folder)))
    operations.append(("remove the staging folder", partial(shutil.rmtree, staging, ignore_errors=True)))
    operations.append(("remove the journal", partial(_unlink, folder / JOURNAL)))
    return operations


def _read_journal(folder: Path) -> dict:
    try:
        journal = json.loads((folder / JOURNAL).read_text(encoding="utf-8"))
        assert isinstance(journal, dict) and STAGING.match(journal["staging"])
        assert isinstance(journal["new"], list) and isinstance(journal["old"], list)
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as error:
        raise AuditFileError(
            f"{folder / JOURNAL}: the commit journal is damaged ({type(error).__name__}); "
            f"uspec-audit cannot tell which files are complete. Move the folder aside and run the "
            f"audit again."
        ) from error
    return journal


def recover(folder: ResultsFolder) -> list[str]:
    """Finish a commit that was interrupted and remove abandoned staging folders; say what was done.

    Call with the writer lock held.
    """
    notes = []
    path = folder.path
    if (path / JOURNAL).exists():
        journal = _read_journal(path)
        with _exclusive_commit_lock(path):
            for _, operation in commit_operations(path, journal):
                operation()
        notes.append(
            f"a previous run was interrupted while moving its complete results into {path}; the move was "
            f"finished"
        )
    for entry in path.iterdir():
        if STAGING.match(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            notes.append(f"removed the unfinished results of an interrupted run ({entry.name})")
        elif _OUR_TEMPORARY.match(entry.name) and entry.is_file():
            entry.unlink(missing_ok=True)
    return notes
