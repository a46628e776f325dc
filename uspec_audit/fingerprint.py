"""Content fingerprints (sha256) of files and specs, for the prediction cache and the manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_file_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, streamed; remembered per (path, size, mtime) within the process."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _file_cache:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
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
