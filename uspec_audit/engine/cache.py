"""The prediction cache: one file per finished unit (ensemble x dataset x variant).

Keys are content fingerprints (member file hashes, dataset fingerprint,
variant spec and perturbation version, preprocessing, the audit seed for
seeded variants), so a re-run or an interrupted run recomputes only what is
missing, and any change to a model, the data or a setting recomputes exactly
the units it touches. A unit is written to a temporary file and renamed into
place when complete, so a crash never leaves a half-written unit behind.

Every entry carries the sha256 of its payload in its header and is verified
when it is read. A damaged entry (truncated, overwritten, one flipped byte) is
never used: it is reported as a warning, removed and recomputed. Entry file
layout: the 8-byte magic ``USPECU1\\n``, the 32-byte sha256 of the rest, then
an uncompressed ``.npz`` archive (loaded without pickle).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uspec_audit.errors import OutputError, describe_os_error
from uspec_audit.results.writer import file_mode

MAGIC = b"USPECU1\n"
HEADER = len(MAGIC) + 32
SUFFIX = ".unit"
ENTRY = re.compile(r"^[0-9a-f]{64}\.unit$")
LEGACY_ENTRY = re.compile(r"^[0-9a-f]{64}\.npz$")  # unverified entries of uspec-audit 0.1 (never read)
PARTIAL = re.compile(r"^\.tmp-.*\.(unit|npz)$")


@dataclass
class UnitPredictions:
    """Every member's outputs on one dataset variant: probabilities (M, n, K) or predictions (M, n)."""

    members: list[str]
    ids: np.ndarray
    target: np.ndarray
    outputs: np.ndarray
    seconds: float = 0.0


class DamagedEntry(Exception):
    """A cache entry whose bytes do not match its checksum (or that cannot be parsed)."""


def _payload_digest(stream, size: int) -> str:
    digest = hashlib.sha256()
    stream.seek(HEADER)
    remaining = size - HEADER
    while remaining > 0:
        chunk = stream.read(min(1 << 20, remaining))
        if not chunk:
            break
        digest.update(chunk)
        remaining -= len(chunk)
    return digest.hexdigest()


def verify_entry(path: Path) -> None:
    """Raise :class:`DamagedEntry` unless ``path`` is a complete entry whose payload matches its checksum."""
    size = path.stat().st_size
    with open(path, "rb") as stream:
        header = stream.read(HEADER)
        if len(header) < HEADER or not header.startswith(MAGIC):
            raise DamagedEntry("no valid header")
        if _payload_digest(stream, size) != header[len(MAGIC) :].hex():
            raise DamagedEntry("checksum mismatch")


class PredictionCache:
    """Read and write finished units under ``folder``; ``warnings`` collects the damaged entries found."""

    def __init__(self, folder: Path, enabled: bool = True):
        self.folder = Path(folder)
        self.enabled = enabled
        self.warnings: list[str] = []
        self._verified: dict[str, tuple[int, int, int]] = {}  # key -> (inode, size, mtime) checked this run

    def remove_partial_writes(self) -> None:
        """Delete temp files left by a run that was killed mid-write."""
        if not self.folder.is_dir():
            return
        for partial in self.folder.iterdir():
            if PARTIAL.match(partial.name) and partial.is_file():
                partial.unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.folder / f"{key}{SUFFIX}"

    def _check(self, key: str) -> bool:
        """Whether the entry exists and is intact; a damaged one is reported, removed and counts as absent."""
        path = self._path(key)
        try:
            status = path.stat()
        except FileNotFoundError:
            return False
        stamp = (status.st_ino, status.st_size, status.st_mtime_ns)
        if self._verified.get(key) == stamp:
            return True
        try:
            verify_entry(path)
        except (DamagedEntry, OSError) as error:
            self._discard(path, str(error))
            return False
        self._verified[key] = stamp
        return True

    def _discard(self, path: Path, reason: str) -> None:
        self.warnings.append(
            f"the cached predictions {path.name} in {self.folder} were damaged ({reason}); they "
            f"were removed and recomputed"
        )
        path.unlink(missing_ok=True)

    def has(self, key: str) -> bool:
        """Whether a finished, intact unit can be reused (never, when the cache is disabled by --fresh)."""
        return self.enabled and self._check(key)

    def get(self, key: str) -> UnitPredictions | None:
        """The stored unit, or None when absent or damaged (a damaged entry is reported and removed)."""
        if not self._check(key):
            return None
        path = self._path(key)
        try:
            with open(path, "rb") as stream:
                stream.seek(HEADER)
                with np.load(stream, allow_pickle=False) as data:
                    return UnitPredictions(
                        members=[str(m) for m in data["members"]],
                        ids=data["ids"],
                        target=data["target"],
                        outputs=data["outputs"],
                        seconds=float(data["seconds"]),
                    )
        except (
            OSError,
            ValueError,
            KeyError,
            EOFError,
        ) as error:  # checksum matched but the payload is not ours
            self._verified.pop(key, None)
            self._discard(path, f"unreadable: {type(error).__name__}")
            return None

    def put(self, key: str, unit: UnitPredictions) -> None:
        """Write a finished unit atomically (temp file with checksum header, then rename)."""
        target = self._path(key)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=SUFFIX)
        except OSError as error:
            raise OutputError(
                f"cannot write the prediction cache in {self.folder}: {describe_os_error(error)}."
            ) from error
        try:
            with os.fdopen(handle, "w+b") as stream:
                stream.write(MAGIC + bytes(32))
                np.savez(
                    stream,
                    members=np.asarray(unit.members, dtype=str),
                    ids=unit.ids,
                    target=unit.target,
                    outputs=unit.outputs,
                    seconds=np.float64(unit.seconds),
                )
                stream.flush()
                digest = _payload_digest(stream, stream.tell())
                stream.seek(len(MAGIC))
                stream.write(bytes.fromhex(digest))
                stream.flush()
                os.fchmod(stream.fileno(), file_mode())
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            raise OutputError(
                f"cannot write the prediction cache entry {target}: {describe_os_error(error)}."
            ) from error
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
