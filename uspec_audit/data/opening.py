"""Open a dataset with its source, the way the engine does for every source, built-in or a plugin's.

:func:`open_dataset` validates the table's ``options`` with the source's own
model, calls the source with a :class:`~uspec_audit.SourceRequest`, checks the
reader against the :class:`~uspec_audit.DatasetReader` protocol, and returns an
:class:`OpenedDataset`: the reader as the engine uses it, with ``limit``
applied, every batch and the metadata checked, errors raised inside the source
named (plugin, source, dataset), and a fingerprint that includes the source's
code identity (:mod:`uspec_audit.identity`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uspec_audit.batch import Batch
from uspec_audit.config.options import validate_options
from uspec_audit.conformance import Blame, batch_problems, metadata_problems, reader_problems
from uspec_audit.fingerprint import spec_sha256
from uspec_audit.protocols import SourceRequest

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd

    from uspec_audit.components import DatasetSourceSpec, Registered
    from uspec_audit.config.models import Dataset

NOUN = "dataset source"
GUIDE = (
    " A reader follows uspec_audit.DatasetReader; subclass uspec_audit.BaseDatasetReader (docs/plugins.md)."
)


class OpenedDataset:
    """A source's reader as the engine uses it (see the module docstring). Other attributes of the reader
    are reachable through it."""

    def __init__(self, reader: Any, request: SourceRequest, blame: Blame, identity: str):
        self.reader, self.request, self.blame, self.identity = reader, request, blame, identity
        self.config = request.config
        self.name = request.name
        self.path = reader.path
        limit = request.config.limit
        self.num_examples = (
            int(reader.num_examples) if limit is None else min(limit, int(reader.num_examples))
        )

    def __getattr__(self, name: str) -> Any:
        if name == "reader":  # not set yet (a failure inside __init__): never recurse
            raise AttributeError(name)
        return getattr(self.reader, name)

    @property
    def _where(self) -> str:
        return f"dataset '{self.name}'" if self.name else f"dataset {self.path}"

    @property
    def feature_names(self) -> list[str] | None:
        return self._call("failed reading the feature names of", lambda: self.reader.feature_names)

    def _call(self, doing: str, function, *args):
        try:
            return function(*args)
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as error:
            raise self.blame.error(f"{doing} {self._where}", error) from error

    def metadata(self) -> pd.DataFrame:
        frame = self._call("failed reading the metadata of", self.reader.metadata)
        problems = metadata_problems(frame, list(self.config.attributes), int(self.reader.num_examples))
        if problems:
            raise self.blame.broken(f"the reader of {self._where} is inconsistent:", problems, GUIDE)
        if self.config.limit is not None:
            frame = frame.iloc[: self.config.limit].reset_index(drop=True)
        return frame

    def iter_batches(self, batch_size: int) -> Iterator[Batch]:
        remaining = self.num_examples
        iterator = self._call("failed reading", lambda: iter(self.reader.iter_batches(batch_size)))
        while remaining > 0:
            batch = self._call("failed reading", next, iterator, None)
            if batch is None:
                return
            problems = batch_problems(batch)
            if problems:
                raise self.blame.broken(f"a batch of {self._where} is malformed:", problems, GUIDE)
            if len(batch) > remaining:
                batch = Batch(
                    ids=batch.ids[:remaining],
                    inputs=batch.inputs[:remaining],
                    targets=None if batch.targets is None else batch.targets[:remaining],
                    attributes={k: v[:remaining] for k, v in batch.attributes.items()},
                )
            remaining -= len(batch)
            yield batch

    def fingerprint(self) -> str:
        """The reader's fingerprint (data and reading settings) with the source's code identity."""
        inner = self._call("failed computing the fingerprint of", self.reader.fingerprint)
        if not isinstance(inner, str) or not inner:
            raise self.blame.broken(
                f"the reader of {self._where}:",
                [f"fingerprint() returned {inner!r}, not a non-empty str"],
                GUIDE,
            )
        return spec_sha256("source-v1", inner, self.identity)

    def content_hash(self) -> str:
        return self._call("failed hashing", self.reader.content_hash)


def open_dataset(
    source: DatasetSourceSpec | Registered, config: Dataset, base_dir: Path, *, name: str = ""
) -> OpenedDataset:
    """Open ``config`` (a ``[datasets.NAME]`` table) with ``source``: a registered record (messages then
    name the plugin) or a bare spec."""
    from uspec_audit.identity import component_identity

    record: Any = _registered(source)
    spec: Any = getattr(record, "spec", record)
    if hasattr(record, "spec"):
        blame, identity = Blame.of(record, NOUN), component_identity(spec, record.package, record.version).key
    else:
        blame, identity = Blame.of_spec(spec, NOUN, spec.open), component_identity(spec).key
    where = f"dataset '{name}'" if name else f"dataset {config.path}"
    options = validate_options(spec.options, dict(config.options), f"{blame.subject} of {where}")
    request = SourceRequest(name=name, config=config, options=options, base_dir=Path(base_dir))
    try:
        reader = spec.open(request)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as error:
        raise blame.error(f"failed to open {where}", error) from error
    try:
        problems = reader_problems(reader)
    except Exception as error:  # a property of the reader that raises
        raise blame.error(f"failed to open {where}", error) from error
    if problems:
        raise blame.broken(
            f"the reader it opened for {where} ({type(reader).__name__}) does not follow the "
            f"DatasetReader protocol:",
            problems,
            GUIDE,
        )
    return OpenedDataset(reader, request, blame, identity)


def _registered(source: Any) -> Any:
    """A bare spec's registration in the process registry (so messages and identities match a run's)."""
    if hasattr(source, "spec"):
        return source
    from uspec_audit.plugins import get_registry

    return get_registry().find(source) or source
