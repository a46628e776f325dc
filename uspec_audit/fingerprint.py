"""Content fingerprints (sha256) of files and specs, for the prediction cache and the manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from uspec_audit.errors import RunError
from uspec_audit.files import regular_file

_file_cache: dict[tuple[str, int, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a regular file's bytes, streamed; remembered per (path, inode, size, mtime) in the process.

    Special files (a FIFO, ``/dev/zero``, a link to one) are refused before opening, and exactly the
    size the file had when it was looked at is read: a file that grows or shrinks meanwhile is an error,
    so hashing always ends.
    """
    path = Path(path)
    status = regular_file(path, "file to fingerprint")
    key = (str(path.resolve()), status.st_ino, status.st_size, status.st_mtime_ns)
    if key not in _file_cache:
        digest = hashlib.sha256()
        remaining = status.st_size
        with path.open("rb") as handle:
            while remaining > 0:
                chunk = handle.read(min(1 << 20, remaining))
                if not chunk:
                    break
                digest.update(chunk)
                remaining -= len(chunk)
            grew = handle.read(1)
        if remaining or grew:
            raise RunError(
                f"{path}: the file changed size while it was being read; is something writing to it?"
            )
        _file_cache[key] = digest.hexdigest()
    return _file_cache[key]


def tree_sha256(paths: list[Path]) -> str:
    """sha256 over the hashes of several files (order-sensitive)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def spec_sha256(*parts: Any) -> str:
    """sha256 of JSON-serialisable parts (sorted keys), e.g. a preprocessing spec."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
