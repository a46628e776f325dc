"""Checksummed cache entries that hold a few named files: the cached statistics and the cached reports.

An entry is one file ``<64 hex digits><suffix>`` in its cache folder
(``<results>/.cache/statistics/*.stats``, ``<results>/.cache/reports/*.reports``),
laid out like a prediction-cache entry (:mod:`uspec_audit.engine.cache`): the
8-byte magic ``USPECB1\\n``, the 32-byte sha256 of the rest, then an
uncompressed zip archive holding ``meta.json`` and the files. It is written to
a ``.tmp-*`` file and renamed into place, and verified when read: a damaged
entry (truncated, overwritten, one flipped byte) is never used -- it is
reported as a warning, removed, and what it held is recomputed.

A cache entry that cannot be *written* (disk full, read-only folder) is a
warning, not a failure: the run's results are complete without it, the next
run recomputes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from uspec_audit.errors import describe_os_error
from uspec_audit.results.folder import CACHE
from uspec_audit.results.writer import file_mode

MAGIC = b"USPECB1\n"
HEADER = len(MAGIC) + 32
META = "meta.json"
KEY = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Store:
    """One kind of bundle entry: its folder under ``<results>/.cache/``, file suffix and what it holds."""

    name: str  # folder name and the word used in messages: "statistics", "reports"
    suffix: str

    def folder(self, results: Path) -> Path:
        return Path(results) / CACHE / self.name

    def entry(self) -> re.Pattern:
        return re.compile(rf"^[0-9a-f]{{64}}{re.escape(self.suffix)}$")

    def partial(self) -> re.Pattern:
        return re.compile(rf"^\.tmp-.*{re.escape(self.suffix)}$")


STATISTICS = Store("statistics", ".stats")
REPORTS = Store("reports", ".reports")
STORES = (STATISTICS, REPORTS)


@dataclass
class Bundle:
    """What one entry holds: ``meta`` (JSON) and named files (bytes)."""

    meta: dict
    files: dict[str, bytes] = field(default_factory=dict)


class DamagedBundle(Exception):
    """An entry whose bytes do not match its checksum, or that cannot be parsed."""


def _parse(data: bytes) -> Bundle:
    if len(data) < HEADER or not data.startswith(MAGIC):
        raise DamagedBundle("no valid header")
    payload = data[HEADER:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC) : HEADER]:
        raise DamagedBundle("checksum mismatch")
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            meta = json.loads(archive.read(META))
            files = {name: archive.read(name) for name in archive.namelist() if name != META}
    except (zipfile.BadZipFile, KeyError, ValueError) as error:  # checksum matched, but not written by us
        raise DamagedBundle(f"unreadable: {type(error).__name__}") from error
    if not isinstance(meta, dict):
        raise DamagedBundle("unreadable: meta.json is not an object")
    return Bundle(meta, files)


def verify_bundle(path: Path) -> None:
    """Raise :class:`DamagedBundle` unless ``path`` is a complete, intact entry."""
    _parse(Path(path).read_bytes())


def _payload(bundle: Bundle) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        # A fixed date: the same bundle gives the same bytes.
        archive.writestr(
            zipfile.ZipInfo(META, date_time=(1980, 1, 1, 0, 0, 0)),
            json.dumps(bundle.meta, sort_keys=True, default=str),
        )
        for name in sorted(bundle.files):
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), bundle.files[name])
    return buffer.getvalue()


class BundleCache:
    """Read and write the entries of one :class:`Store` of a results folder; ``warnings`` collects what went
    wrong (damaged entries removed, entries that could not be written). Disabled (``--fresh``): nothing is
    read, new entries are still written."""

    def __init__(self, results: Path, store: Store, enabled: bool = True):
        self.store = store
        self.folder = store.folder(results)
        self.enabled = enabled
        self.warnings: list[str] = []

    def _path(self, key: str) -> Path:
        if not KEY.fullmatch(key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.folder / f"{key}{self.store.suffix}"

    def get(self, key: str) -> Bundle | None:
        """The entry, or None when absent, disabled or damaged (a damaged entry is reported and removed)."""
        if not self.enabled:
            return None
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:  # unreadable, not damaged: leave it, recompute
            self.warnings.append(
                f"the cached {self.store.name} {path.name} in {self.folder} could not be read "
                f"({describe_os_error(error)}); they were recomputed"
            )
            return None
        try:
            return _parse(data)
        except DamagedBundle as error:
            self.discard(key, str(error))
            return None

    def discard(self, key: str, reason: str) -> None:
        """Report the entry of ``key`` as damaged and remove it."""
        path = self._path(key)
        self.warnings.append(
            f"the cached {self.store.name} {path.name} in {self.folder} were damaged ({reason}); "
            f"they were removed and recomputed"
        )
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass

    def put(self, key: str, bundle: Bundle) -> bool:
        """Write the entry atomically (temp file, checksum header, rename); False (and a warning) if it failed."""
        target = self._path(key)
        payload = _payload(bundle)
        temporary = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=self.store.suffix)
            with os.fdopen(handle, "wb") as stream:
                stream.write(MAGIC + hashlib.sha256(payload).digest() + payload)
                stream.flush()
                os.fchmod(stream.fileno(), file_mode())
                os.fsync(stream.fileno())
            os.replace(temporary, target)
            return True
        except OSError as error:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            self.warnings.append(
                f"the {self.store.name} could not be stored in the cache ({target}): "
                f"{describe_os_error(error)}; the next run recomputes them"
            )
            return False
        except BaseException:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            raise

    def remove_partial_writes(self) -> None:
        """Delete ``.tmp-*`` files of a write that was killed."""
        if not self.folder.is_dir():
            return
        partial = self.store.partial()
        for path in self.folder.iterdir():
            if partial.match(path.name) and path.is_file():
                path.unlink(missing_ok=True)
