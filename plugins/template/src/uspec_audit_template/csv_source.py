"""The dataset source ``template/csv``: tabular CSV files, with the separators as the source's own options.

It shows a :class:`uspec_audit.BaseDatasetReader` subclass: ``__init__`` counts the rows, ``metadata()`` reads
only the id, target and attribute columns, ``iter_batches`` streams chunks (memory bounded by the batch size).
The base class supplies ``fingerprint()`` (file hash + every reading setting, options included),
``content_hash()`` and ``feature_names``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from uspec_audit import BaseDatasetReader, Batch, RunError, SourceRequest


class CsvOptions(BaseModel):
    """``options = {...}`` of a ``[datasets.NAME]`` table with ``source = "template/csv"``."""

    model_config = ConfigDict(extra="forbid")
    delimiter: str = Field(
        ",", min_length=1, max_length=1, description="Field separator (';' in much of Europe)."
    )
    decimal: str = Field(".", min_length=1, max_length=1, description="Decimal mark (',' in much of Europe).")
    encoding: str = Field("utf-8", description="Text encoding of the file.")


class CsvReader(BaseDatasetReader):
    """A CSV file of numeric feature columns (``features = [...]``), a target and attributes."""

    def __init__(self, request: SourceRequest):
        super().__init__(request)
        if not self.config.features:
            raise RunError(
                f"{self.path}: the template/csv source reads tabular data; list the feature columns "
                f"with features = [...] in the dataset table."
            )
        self.num_examples = sum(len(chunk) for chunk in self._read([self.config.target], 65536))

    def _read(self, columns: list[str], chunksize: int) -> Iterator[pd.DataFrame]:
        options = self.options
        try:
            yield from pd.read_csv(
                self.path,
                sep=options.delimiter,
                decimal=options.decimal,
                encoding=options.encoding,
                usecols=list(dict.fromkeys(columns)),
                chunksize=chunksize,
            )
        except ValueError as error:  # pandas names the missing columns
            raise RunError(f"{self.path}: {error}") from error

    def _identifiers(self) -> list[str]:
        config = self.config
        return [config.target, *config.attributes] + ([config.id] if config.id else [])

    def metadata(self) -> pd.DataFrame:
        frame = pd.concat(list(self._read(self._identifiers(), 65536)), ignore_index=True)
        ids = frame[self.config.id].to_numpy() if self.config.id else None
        return self.metadata_frame(frame, ids)

    def iter_batches(self, batch_size: int) -> Iterator[Batch]:
        config, start = self.config, 0
        for chunk in self._read([*config.features, *self._identifiers()], batch_size):
            ids = chunk[config.id].to_numpy() if config.id else np.arange(start, start + len(chunk))
            yield Batch(
                ids=ids,
                inputs=chunk[config.features].to_numpy(dtype=np.float64),
                targets=chunk[config.target].to_numpy(),
                attributes={a: chunk[a].to_numpy() for a in config.attributes},
            )
            start += len(chunk)


def open_csv(request: SourceRequest) -> CsvReader:
    return CsvReader(request)
