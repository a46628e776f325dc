"""Refuse special files before reading them.

A path in an audit file may point at anything: a FIFO blocks the first read
forever, ``/dev/zero`` or ``/dev/urandom`` never end, a socket cannot be read.
Every file the tool reads or hashes (audit files, models, datasets, tables) is
first checked to be a regular file (symbolic links are followed: a link to a
device is refused too), without opening it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from uspec_audit.errors import RunError, UspecError

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device (such as /dev/zero)"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def regular_file(path: Path, what: str = "file", error: type[UspecError] = RunError) -> os.stat_result:
    """``stat`` of ``path`` (following links); raise ``error`` unless it exists and is a regular file."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: the {what} does not exist.") from None
    except OSError as problem:
        raise error(f"{path}: cannot read the {what} ({problem.strerror or problem}).") from problem
    if not stat.S_ISREG(status.st_mode):
        raise error(
            f"{path}: the {what} is {file_kind(status.st_mode)}, not a regular file; refusing to read it."
        )
    return status


def read_bounded(path: Path, limit: int, what: str = "file", error: type[UspecError] = RunError) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (checked before and while reading)."""
    status = regular_file(path, what, error)
    if status.st_size > limit:
        raise error(f"{path}: the {what} is {status.st_size:,} bytes; at most {limit:,} are accepted.")
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:  # grew after the stat
        raise error(f"{path}: the {what} is larger than {limit:,} bytes; refusing to read it.")
    return data
