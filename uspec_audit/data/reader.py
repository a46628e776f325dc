"""The base class of dataset readers: the bookkeeping every reader needs, so a plugin writes only the reading.

Subclass :class:`BaseDatasetReader`, call ``super().__init__(request)``, set
``num_examples`` and implement :meth:`~BaseDatasetReader.metadata` and
:meth:`~BaseDatasetReader.iter_batches`. The base class supplies ``config``,
``options``, ``path``, ``name``, ``feature_names``, ``content_hash()`` (the
sha256 of the file, or of every file under a folder), ``fingerprint()`` (the
content hash plus every reading setting and the options) and
:meth:`~BaseDatasetReader.metadata_frame`, which turns columns into the frame
``metadata()`` returns, with clear errors for missing columns and duplicate ids.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from uspec_audit.errors import RunError
from uspec_audit.fingerprint import file_sha256, spec_sha256, tree_sha256
from uspec_audit.protocols import SourceRequest

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd

    from uspec_audit.batch import Batch
    from uspec_audit.config.models import Dataset

# Keys of the dataset table that name *where* the data is, not *how* it is read: moving a file does not
# change what a reader yields, so they stay out of the fingerprint (the content hash covers the bytes).
LOCATION_KEYS = frozenset({"path", "table", "synthetic", "options"})


def check_ids(ids: np.ndarray, where: str) -> np.ndarray:
    """``ids`` unchanged, or a :class:`RunError` when they are not unique (ids must identify examples)."""
    import pandas as pd

    if len(pd.unique(ids)) != len(ids):
        raise RunError(f"{where}: example ids are not unique; ids must identify examples.")
    return ids


def metadata_frame(
    columns: Mapping[str, Any], config: Dataset, ids: np.ndarray | None, where: str, count: int | None = None
) -> pd.DataFrame:
    """The frame ``metadata()`` returns: ``id``, ``target`` and the table's ``attributes``, from ``columns``
    (a mapping or a DataFrame holding at least the target and attribute columns by their names in the data).

    ``ids`` default to the row numbers ``0..n-1``; they must be unique. ``where`` names the data in messages.
    """
    import pandas as pd

    available = list(columns.keys())
    if config.target not in available:
        raise RunError(
            f"{where}: no target column '{config.target}'. Columns: {', '.join(map(str, available))}."
        )
    target = np.asarray(columns[config.target])
    n = len(target) if count is None else count
    out = pd.DataFrame({"id": np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids)})
    check_ids(out["id"].to_numpy(), where)
    out["target"] = target
    for attribute in config.attributes:
        if attribute not in available:
            raise RunError(
                f"{where}: no attribute column '{attribute}'. Columns: {', '.join(map(str, available))}."
            )
        out[attribute] = np.asarray(columns[attribute])
    return out


class BaseDatasetReader(ABC):
    """A dataset reader with the bookkeeping done (see :class:`uspec_audit.DatasetReader` for the protocol).

    Attributes set by ``__init__(request)``:
        request: the :class:`~uspec_audit.SourceRequest` the source received.
        config: the ``[datasets.NAME]`` table (``request.config``).
        options: the source's validated options (``request.options``), or ``None``.
        path: the dataset's ``path``, resolved against the audit file's folder.
        name: the dataset's key in the audit.

    A subclass sets ``num_examples`` and implements ``metadata()`` and ``iter_batches()``. Override
    ``content_hash()`` when the data is more than ``path`` (e.g. a table plus the files it lists), and
    ``reading_settings()`` when something besides the table and the options changes what is read.
    """

    config: Dataset
    path: Path
    num_examples: int
    options: Any = None
    name: str = ""

    def __init__(self, request: SourceRequest):
        self.request = request
        self.config = request.config
        self.options = request.options
        self.path = request.path
        self.name = request.name

    @property
    def feature_names(self) -> list[str] | None:
        """The table's ``features`` (tabular data), else ``None``."""
        return self.config.features

    def content_hash(self) -> str:
        """sha256 of the data: the file's bytes, or of every file under the folder (sorted by path)."""
        if self.path.is_dir():
            return tree_sha256(sorted(p for p in self.path.rglob("*") if p.is_file()))
        return file_sha256(self.path)

    def reading_settings(self) -> dict[str, Any]:
        """Every setting that changes what the reader yields: the dataset table without its location keys,
        and the source's options."""
        settings = self.config.model_dump(mode="json", exclude=set(LOCATION_KEYS))
        options = self.options
        settings["options"] = options.model_dump(mode="json") if hasattr(options, "model_dump") else options
        return settings

    def fingerprint(self) -> str:
        """Content hash plus reading settings (the engine adds the source's code identity)."""
        return spec_sha256("reader-v1", self.content_hash(), self.reading_settings())

    def metadata_frame(self, columns: Mapping[str, Any], ids: np.ndarray | None = None) -> pd.DataFrame:
        """``id``, ``target`` and attribute columns from ``columns`` (see :func:`metadata_frame`)."""
        return metadata_frame(columns, self.config, ids, str(self.path))

    @abstractmethod
    def metadata(self) -> pd.DataFrame:
        """One row per example, in stream order: ``id``, ``target`` and every attribute; no inputs read."""

    @abstractmethod
    def iter_batches(self, batch_size: int) -> Iterator[Batch]:
        """Batches of at most ``batch_size`` examples, in ``metadata()`` order, from the start on every call."""
