"""Atomic writes of result files: write to a temporary name, flush to disk, then rename into place.

Files get the permissions a plain ``open()`` would give under the user's umask
(0644 under umask 022), not the 0600 of :func:`tempfile.mkstemp`: result
folders are shared as evidence. A write that fails (disk full, file-size limit,
permissions) removes its temporary file and raises :class:`OutputError` naming
the file and the reason.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from uspec_audit.errors import OutputError, describe_os_error


@functools.cache
def file_mode() -> int:
    """``0o666`` less the process umask, read without changing it where the platform allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no other way to read it: set and restore at once
    os.umask(mask)
    return 0o666 & ~mask


def fsync_directory(folder: Path) -> None:
    """Make renames inside ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def atomic_write(path: Path, write, binary: bool = True) -> None:
    """Call ``write(stream)`` on a temporary file next to ``path``, then rename it over ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OutputError(f"cannot write {path}: {describe_os_error(error)}.") from error
    try:
        with os.fdopen(handle, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as stream:
            write(stream)
            stream.flush()
            os.fchmod(stream.fileno(), file_mode())
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {describe_os_error(error)}.") from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write a DataFrame as Parquet, atomically."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    atomic_write(Path(path), lambda stream: pq.write_table(table, stream))


def write_json(data: Any, path: Path) -> None:
    """Write JSON (sorted keys, indented), atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    atomic_write(Path(path), lambda stream: stream.write(text + "\n"), binary=False)
