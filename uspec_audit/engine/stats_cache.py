"""The statistics cache: an unchanged re-run reuses the result tables instead of recomputing them.

The statistics (ensemble statistics, multi-bootstrap differences, corruption
summary, contrastive flips, contracts) are a function of

- the predictions: every unit's content key *and* the sha256 of its stored
  payload (so a recomputed unit that came out different recomputes the
  statistics), and the per-member ``metrics`` table computed from them;
- the datasets' metadata (ids, targets, attributes that define the strata);
- every setting: the ``[analysis]`` table, the audit seed, each test's
  configuration (kind, metrics, strata, contracts, baseline, variants), the
  ensembles' members, groups and iid reference;
- the code that computes them: the uspec-audit version, the sha256 of the
  source of the statistics, metrics, contracts, engine and results modules (and kinds/), and the
  identity (package, version, code hash) of every metric used, a plugin's too.

The key is the sha256 of all of that. An entry (:mod:`uspec_audit.engine.bundle_cache`)
holds each table as the exact Parquet bytes the computing run wrote, and the
notes the analysis made; a hit writes those bytes, so the re-run's tables are
byte-identical to the first run's.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import pandas as pd

from uspec_audit import __version__
from uspec_audit.engine.bundle_cache import STATISTICS, Bundle, BundleCache
from uspec_audit.engine.cache import HEADER as UNIT_HEADER
from uspec_audit.engine.cache import SUFFIX as UNIT_SUFFIX
from uspec_audit.results.writer import atomic_write

FORMAT = 1
PACKAGE = Path(__file__).resolve().parent.parent  # uspec_audit/
# The code whose output is the statistics and their tables. Whole folders, so that code moved between their
# modules is still covered (a folder that does not exist counts as empty); a change anywhere in them
# recomputes the statistics.
CODE = ("stats", "metrics", "engine", "pipeline", "kinds", "results", "contracts.py", "kind_api.py")


@functools.cache
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def source_digest(package: Path, parts: tuple[str, ...], patterns: tuple[str, ...] = ("*.py",)) -> str:
    """sha256 over the names and contents of the files matching ``patterns`` in ``parts`` (files or folders)
    of ``package``."""
    digest = hashlib.sha256()
    files = []
    for part in parts:
        path = package / part
        if path.is_dir():
            files += sorted(
                {f for pattern in patterns for f in path.rglob(pattern) if "__pycache__" not in f.parts}
            )
        elif path.is_file():
            files.append(path)
    for path in files:
        status = path.stat()
        digest.update(
            f"{path.relative_to(package).as_posix()}={_file_digest(str(path), status.st_size, status.st_mtime_ns)}\n".encode()
        )
    return digest.hexdigest()


def frame_digest(frame: pd.DataFrame) -> str:
    """sha256 of a frame's columns, dtypes and values (row order counts, the index does not)."""
    digest = hashlib.sha256(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    try:
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists): hash the Parquet bytes instead
        digest.update(parquet_bytes(frame))
    return digest.hexdigest()


def unit_payload_digest(cache_folder: Path, key: str) -> str:
    """The payload sha256 a prediction-cache entry carries in its header ("" when it cannot be read)."""
    try:
        with open(Path(cache_folder) / f"{key}{UNIT_SUFFIX}", "rb") as stream:
            return stream.read(UNIT_HEADER)[-32:].hex()
    except OSError:
        return ""


def statistics_key(
    plan,
    analysis_plan,
    metrics: pd.DataFrame,
    unit_keys: dict,
    cache_folder: Path,
    metadata: dict[str, pd.DataFrame],
    audit,
    registry,
) -> str:
    """The content key of the statistics of a run (see the module docstring for what it covers)."""
    material = {
        "format": FORMAT,
        "tool": __version__,
        "code": source_digest(PACKAGE, CODE),
        "metric_code": {
            name: registry.identity("metric", name) for name in sorted(analysis_plan.higher_is_better)
        },
        "seed": audit.audit.seed,
        "analysis": audit.analysis.model_dump(mode="json"),
        # a test kind computes its own tables (and says how the statistics treat its tests): its code and its
        # validated parameters are part of the key, a plugin kind's too
        "kind_code": {
            name: registry.identity("test_kind", name) for name in sorted({t.kind.name for t in plan.tests})
        },
        "tests": [
            {
                "config": t.config.model_dump(mode="json"),
                "ensembles": list(t.ensembles),
                "params": t.params.model_dump(mode="json")
                if hasattr(t.params, "model_dump")
                else repr(t.params),
                "variants": [[v.label, v.perturbation, v.severity, v.params_json] for v in t.variants],
            }
            for t in plan.tests
        ],
        "plan": {
            "ensembles": [
                [
                    e.name,
                    e.task,
                    list(e.members),
                    e.reference,
                    list(e.groups or []),
                    {k: list(v) for k, v in sorted(e.attributes.items())},
                ]
                for e in analysis_plan.ensembles
            ],
            "tests": [
                [t.name, t.kind, list(t.ensembles), list(t.metrics), list(t.by), list(t.variants)]
                for t in analysis_plan.tests
            ],
            "higher_is_better": dict(sorted(analysis_plan.higher_is_better.items())),
        },
        "units": sorted(
            [ensemble, *map(str, group), key, unit_payload_digest(cache_folder, key)]
            for (ensemble, group), key in unit_keys.items()
        ),
        "metadata": {name: frame_digest(frame) for name, frame in sorted(metadata.items())},
        "metrics": frame_digest(metrics),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The bytes :func:`uspec_audit.results.writer.write_table` writes for ``frame``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


class StoredTables(MutableMapping):
    """Result tables by name, each held as Parquet bytes and read into a DataFrame only when asked for."""

    def __init__(self, blobs: dict[str, bytes], frames: dict[str, pd.DataFrame] | None = None):
        self._blobs = dict(blobs)
        self._frames = dict(frames or {})

    @classmethod
    def of(cls, tables: dict[str, pd.DataFrame]) -> StoredTables:
        return cls({name: parquet_bytes(frame) for name, frame in tables.items()}, tables)

    def parquet(self, name: str) -> bytes:
        if name not in self._blobs:
            self._blobs[name] = parquet_bytes(self._frames[name])
        return self._blobs[name]

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            self._frames[name] = pd.read_parquet(io.BytesIO(self._blobs[name]))
        return self._frames[name]

    def __setitem__(self, name: str, frame: pd.DataFrame) -> None:
        self._frames[name] = frame
        self._blobs.pop(name, None)

    def __delitem__(self, name: str) -> None:
        self._frames.pop(name, None)
        del self._blobs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._blobs, *self._frames]))

    def __len__(self) -> int:
        return len(set(self._blobs) | set(self._frames))


def write_tables(tables, folder: Path) -> None:
    """Write every table to ``folder/<name>.parquet`` (stored tables: their exact bytes)."""
    for name in tables:
        data = tables.parquet(name) if isinstance(tables, StoredTables) else parquet_bytes(tables[name])
        atomic_write(Path(folder) / f"{name}.parquet", lambda stream, data=data: stream.write(data))


class StatisticsCache:
    """The statistics entries of a results folder; ``warnings`` says what was damaged or not stored."""

    def __init__(self, results: Path, enabled: bool = True):
        self.entries = BundleCache(results, STATISTICS, enabled)
        self.entries.remove_partial_writes()
        self.reused = False

    @property
    def warnings(self) -> list[str]:
        return self.entries.warnings

    def get(self, key: str) -> tuple[StoredTables, list[str]] | None:
        """The cached tables and analysis notes for ``key``, or None (absent, --fresh, damaged)."""
        bundle = self.entries.get(key)
        if bundle is None:
            return None
        names = bundle.meta.get("tables")
        notes = bundle.meta.get("notes")
        if (
            bundle.meta.get("key") != key
            or not isinstance(names, list)
            or not isinstance(notes, list)
            or set(bundle.files) != {f"{n}.parquet" for n in names}
        ):
            self.entries.discard(key, "not a statistics entry of this key")
            return None
        self.reused = True
        return StoredTables({name: bundle.files[f"{name}.parquet"] for name in names}), [
            str(n) for n in notes
        ]

    def put(self, key: str, tables: dict[str, pd.DataFrame], notes: list[str]) -> StoredTables:
        """Store freshly computed tables; returns them as :class:`StoredTables`, so that the run writes the very
        bytes the cache holds."""
        stored = StoredTables.of(tables)
        self.entries.put(
            key,
            Bundle(
                {
                    "key": key,
                    "format": FORMAT,
                    "tool": __version__,
                    "tables": list(stored),
                    "notes": list(notes),
                },
                {f"{name}.parquet": stored.parquet(name) for name in stored},
            ),
        )
        return stored
