"""Advisory locks on a results folder (``fcntl.flock``): one writer at a time, readers never see a commit half done.

Two lock files live in the folder:

- ``.uspec-audit.lock`` is held exclusively by a run (or ``cache prune``) for
  its whole duration; it holds the holder's pid and command, so a second run
  can say who is writing.
- ``.uspec-audit.commit-lock`` is held exclusively while a run moves its new
  results into place (milliseconds), and shared by ``report`` while it reads.

The kernel releases a lock when its process ends, however it ends, so a lock
is never stale. Lock files are never deleted (deleting one would let two
processes lock two different files of the same name).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from uspec_audit.errors import AuditFileError, describe_os_error

WRITER_LOCK = ".uspec-audit.lock"
COMMIT_LOCK = ".uspec-audit.commit-lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no advisory locks, documented
    fcntl = None  # type: ignore[assignment]  # checked before every use


class LockHeld(Exception):
    """The lock is held by another process."""

    def __init__(self, holder: dict):
        super().__init__(holder)
        self.holder = holder


class FolderLock:
    """One advisory lock file of a results folder."""

    def __init__(self, folder: Path, name: str = WRITER_LOCK, shared: bool = False, read_only: bool = False):
        self.path = Path(folder) / name
        self.shared = shared
        self.read_only = read_only
        self._handle: int | None = None

    def acquire(self, wait: bool = False, holder: dict | None = None) -> FolderLock:
        """Take the lock, blocking if ``wait``; raise :class:`LockHeld` with the holder's record if not."""
        flags = os.O_RDONLY if self.read_only else os.O_RDWR | os.O_CREAT
        self._handle = os.open(self.path, flags, 0o666)
        if fcntl is None:  # pragma: no cover
            return self
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        try:
            fcntl.flock(self._handle, mode | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            record = self.holder()
            self.release()
            raise LockHeld(record) from None
        if holder is not None and not self.read_only:
            os.ftruncate(self._handle, 0)
            os.pwrite(self._handle, json.dumps(holder).encode(), 0)
        return self

    def holder(self) -> dict:
        """The record the current holder wrote (pid, command, since), or {} if none."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}

    def release(self) -> None:
        if self._handle is not None:
            os.close(self._handle)  # closing the descriptor releases the flock
            self._handle = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def writer_lock(folder: Path, wait: bool = False, command: str = "") -> FolderLock:
    """Hold the folder's writer lock, or raise :class:`AuditFileError` (exit 2) naming the holder."""
    lock = FolderLock(folder)
    record = {
        "pid": os.getpid(),
        "command": command,
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        return lock.acquire(wait=wait, holder=record)
    except LockHeld as held:
        who = held.holder
        pid = who.get("pid", "unknown")
        detail = "".join(
            [
                f", `{who['command']}`" if who.get("command") else "",
                f", since {who['since']}" if who.get("since") else "",
            ]
        )
        raise AuditFileError(
            f"{folder} is in use by another uspec-audit process (pid {pid}{detail}). Wait for it "
            f"to finish (or pass --wait), or choose another results folder with --out."
        ) from None
    except OSError as error:
        raise AuditFileError(
            f"cannot write to the results folder {folder}: {describe_os_error(error)}. Choose a "
            f"writable folder with --out."
        ) from error


def commit_lock(folder: Path, shared: bool, timeout: float = 600.0) -> FolderLock | None:
    """The short commit lock: exclusive for a commit, shared for a reader. None where the folder cannot hold
    lock files (a read-only copy of a results folder: no run can commit there either)."""
    read_only = shared and not os.access(folder, os.W_OK)
    lock = FolderLock(folder, COMMIT_LOCK, shared=shared, read_only=read_only)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return lock.acquire(wait=False)
        except LockHeld:
            if time.monotonic() > deadline:
                raise AuditFileError(
                    f"{folder}: another uspec-audit process has been reading or committing the "
                    f"results for {timeout:.0f} s (a long `report`?); try again later."
                ) from None
            time.sleep(0.05)
        except FileNotFoundError:
            return None
        except OSError:
            if shared:
                return None
            raise
