"""Built-in dataset sources: ``parquet``, ``npz`` and ``images`` (folder + table).

A source opens a :class:`~uspec_audit.DatasetReader` that streams
:class:`~uspec_audit.Batch` objects with stable example ids and reads the small
per-example metadata (ids, targets, attributes) without touching the inputs.
The built-in readers subclass :class:`~uspec_audit.BaseDatasetReader`, like a
plugin's; :func:`uspec_audit.data.opening.open_dataset` is how the engine
opens any source.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from uspec_audit.batch import Batch
from uspec_audit.components import DatasetSourceSpec
from uspec_audit.config.models import Dataset
from uspec_audit.data.decode import decode_images
from uspec_audit.data.opening import open_dataset  # noqa: F401  (where callers have always found it)
from uspec_audit.data.reader import BaseDatasetReader, check_ids, metadata_frame
from uspec_audit.errors import RunError
from uspec_audit.files import file_kind, regular_file
from uspec_audit.fingerprint import tree_sha256
from uspec_audit.protocols import SourceRequest

READ_BUFFER = 1 << 20  # stream Parquet column chunks page by page, not a whole row group at once
BOMB_BYTES, BOMB_RATIO = 1 << 30, 100  # a column chunk that inflates past 1 GiB at over 100x is refused


class ParquetReader(BaseDatasetReader):
    """Parquet: encoded image bytes, Arrow fixed-shape tensors, list columns with a declared shape,
    numeric feature columns (tabular) or strings (text)."""

    def __init__(self, config: Dataset, path: Path):
        self.config, self.path = config, path
        regular_file(path, "dataset file")
        try:
            self._file = pq.ParquetFile(path, buffer_size=READ_BUFFER, pre_buffer=False)
        except (pa.ArrowException, OSError) as error:
            raise RunError(f"{path}: not a readable Parquet file ({error}).") from error
        self.num_examples = self._file.metadata.num_rows
        names = self._file.schema_arrow.names
        needed = list(config.features or [config.input]) + [config.target, *config.attributes]
        if config.id:
            needed.append(config.id)
        missing = [c for c in needed if c not in names]
        if missing:
            raise RunError(
                f"{path}: columns {missing} are missing (dataset config names them). Columns: {', '.join(names)}."
            )
        self._check_sizes(list(dict.fromkeys(needed)))

    def _check_sizes(self, columns: list[str]) -> None:
        """Refuse, from the file's metadata alone, a list column with more values than its declared shape
        allows and a column chunk that inflates enormously: both would be materialized before any other check."""
        config, metadata = self.config, self._file.metadata
        kind = self._file.schema_arrow.field(config.input).type if not config.features else None
        is_list = kind is not None and (
            pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
        )
        if is_list and config.shape is None:
            raise RunError(
                f"{self.path}: column '{config.input}' is a list column; declare the shape of one example "
                f"with shape = [...] in the dataset table."
            )
        per_example = int(np.prod(config.shape)) if is_list and config.shape is not None else 0
        for index in range(metadata.num_row_groups):
            group = metadata.row_group(index)
            for position in range(group.num_columns):
                chunk = group.column(position)
                column = next(
                    (
                        c
                        for c in columns
                        if chunk.path_in_schema == c or chunk.path_in_schema.startswith(c + ".")
                    ),
                    None,
                )
                if column is None:
                    continue
                if is_list and column == config.input and chunk.num_values > group.num_rows * per_example:
                    raise RunError(
                        f"{self.path}: column '{column}' holds {chunk.num_values:,} values for "
                        f"{group.num_rows:,} rows in row group {index}; shape {config.shape} allows "
                        f"{per_example:,} per row. Refusing to read it."
                    )
                inflated, stored = chunk.total_uncompressed_size, max(chunk.total_compressed_size, 1)
                if inflated > BOMB_BYTES and inflated > BOMB_RATIO * stored:
                    raise RunError(
                        f"{self.path}: column '{column}' of row group {index} inflates from {stored:,} to "
                        f"{inflated:,} bytes (a decompression bomb?); refusing to read it."
                    )

    def _ids(self, table: pa.Table, start: int) -> np.ndarray:
        if self.config.id:
            return table.column(self.config.id).to_numpy()
        return np.arange(start, start + table.num_rows, dtype=np.int64)

    def metadata(self) -> pd.DataFrame:
        columns = [self.config.target, *self.config.attributes] + ([self.config.id] if self.config.id else [])
        frame = self._file.read(columns=list(dict.fromkeys(columns))).to_pandas()
        ids = frame[self.config.id].to_numpy() if self.config.id else np.arange(len(frame), dtype=np.int64)
        return metadata_frame(frame, self.config, check_ids(ids, str(self.path)), str(self.path))

    def _inputs(self, table: pa.Table, start: int):
        config, where = self.config, f"{self.path} (rows {start}-{start + table.num_rows - 1})"
        if config.features:
            return np.column_stack(
                [table.column(f).to_numpy(zero_copy_only=False).astype(np.float64) for f in config.features]
            )
        column = table.column(config.input).combine_chunks()
        kind = column.type
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            return decode_images(column.to_pylist(), where)
        if isinstance(kind, pa.FixedShapeTensorType):
            return column.to_numpy_ndarray()
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return np.asarray(column.to_pylist(), dtype=object)
        if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
            flat = column.flatten()
            while (
                pa.types.is_list(flat.type)
                or pa.types.is_large_list(flat.type)
                or pa.types.is_fixed_size_list(flat.type)
            ):
                flat = flat.flatten()
            values = flat.to_numpy(zero_copy_only=False)
            shape = config.shape
            if shape is None:
                raise RunError(
                    f"{where}: column '{config.input}' is a list column; declare the shape of one example "
                    f"with shape = [...] in the dataset table."
                )
            per_example = int(np.prod(shape))
            if values.size != per_example * table.num_rows:
                raise RunError(
                    f"{where}: column '{config.input}' holds {values.size} values for {table.num_rows} rows; "
                    f"shape {shape} needs {per_example} per row."
                )
            return values.reshape(table.num_rows, *shape)
        if pa.types.is_floating(kind) or pa.types.is_integer(kind):
            return column.to_numpy().reshape(-1, 1).astype(np.float64)
        raise RunError(
            f"{where}: column '{config.input}' has type {kind}; expected encoded image bytes, a "
            f"fixed-shape tensor, a list column with a declared shape, numbers or strings."
        )

    def iter_batches(self, batch_size: int) -> Iterator[Batch]:
        config = self.config
        columns = list(
            dict.fromkeys(
                list(config.features or [config.input])
                + [config.target, *config.attributes]
                + ([config.id] if config.id else [])
            )
        )
        start = 0
        for record_batch in self._file.iter_batches(batch_size=batch_size, columns=columns):
            table = pa.Table.from_batches([record_batch])
            yield Batch(
                ids=self._ids(table, start),
                inputs=self._inputs(table, start),
                targets=table.column(config.target).to_numpy(zero_copy_only=False),
                attributes={a: table.column(a).to_numpy(zero_copy_only=False) for a in config.attributes},
            )
            start += table.num_rows


class NpzReader(BaseDatasetReader):
    """``.npz`` archives: one array per key (input, target, id, attributes), examples on axis 0.

    npz members cannot be memory-mapped, so each used array is loaded once;
    use Parquet for datasets that do not fit in memory.
    """

    def __init__(self, config: Dataset, path: Path):
        self.config, self.path = config, path
        regular_file(path, "dataset file")
        try:
            self._archive = np.load(path, allow_pickle=False)
            keys = set(self._archive.files)
        except (OSError, ValueError) as error:
            raise RunError(f"{path}: not a readable .npz archive ({error}).") from error
        needed = list(config.features or [config.input]) + [config.target, *config.attributes]
        if config.id:
            needed.append(config.id)
        missing = [k for k in needed if k not in keys]
        if missing:
            raise RunError(f"{path}: keys {missing} are missing. Keys: {', '.join(sorted(keys))}.")
        self.num_examples = int(self._archive[config.target].shape[0])

    def _array(self, key: str) -> np.ndarray:
        try:
            return self._archive[key]
        except ValueError as error:  # object arrays need pickle, which we refuse
            raise RunError(
                f"{self.path}: key '{key}' needs pickle to load ({error}); store strings as fixed-width "
                f"unicode arrays (dtype '<U…')."
            ) from error

    def metadata(self) -> pd.DataFrame:
        ids = self._array(self.config.id) if self.config.id else np.arange(self.num_examples, dtype=np.int64)
        frame = pd.DataFrame({k: self._array(k) for k in [self.config.target, *self.config.attributes]})
        return metadata_frame(frame, self.config, check_ids(ids, str(self.path)), str(self.path))

    def iter_batches(self, batch_size: int) -> Iterator[Batch]:
        config = self.config
        if config.features:
            inputs = np.column_stack([self._array(f).astype(np.float64) for f in config.features])
        else:
            inputs = self._array(config.input)
        targets = self._array(config.target)
        ids = self._array(config.id) if config.id else np.arange(self.num_examples, dtype=np.int64)
        attributes = {a: self._array(a) for a in config.attributes}
        if len(inputs) != self.num_examples:
            raise RunError(
                f"{self.path}: '{config.input}' has {len(inputs)} examples, '{config.target}' "
                f"{self.num_examples}."
            )
        for start in range(0, self.num_examples, batch_size):
            stop = start + batch_size
            yield Batch(
                ids=ids[start:stop],
                inputs=inputs[start:stop],
                targets=targets[start:stop],
                attributes={a: v[start:stop] for a, v in attributes.items()},
            )


class ImageFolderReader(BaseDatasetReader):
    """A folder of image files plus a CSV or Parquet table of paths, labels and attributes."""

    def __init__(self, config: Dataset, path: Path, table: Path):
        self.config, self.path, self.table_path = config, path, table
        regular_file(table, "image table")
        try:
            if table.suffix.lower() == ".csv":
                self._table = pd.read_csv(table)
            else:
                self._table = pd.read_parquet(table)
        except Exception as error:
            raise RunError(f"{table}: cannot read the image table ({error}).") from error
        if config.path_column not in self._table.columns:
            raise RunError(
                f"{table}: no '{config.path_column}' column of image paths. Columns: "
                f"{', '.join(map(str, self._table.columns))}."
            )
        self.num_examples = len(self._table)
        self._files = [path / str(p) for p in self._table[config.path_column]]
        missing, special = [], []
        for file in self._files:
            try:
                mode = file.stat().st_mode
            except OSError:
                missing.append(str(file))
                continue
            if not stat.S_ISREG(mode):
                special.append(f"{file} ({file_kind(mode)})")
        if missing:
            raise RunError(f"{table}: {len(missing)} image files are missing, e.g. {missing[0]}.")
        if special:
            raise RunError(
                f"{table}: {len(special)} image paths are not regular files, e.g. {special[0]}; refusing "
                f"to read them."
            )

    def content_hash(self) -> str:
        return tree_sha256([self.table_path, *self._files])

    def _ids(self) -> np.ndarray:
        if self.config.id:
            return self._table[self.config.id].to_numpy()
        return np.arange(self.num_examples, dtype=np.int64)

    def metadata(self) -> pd.DataFrame:
        return metadata_frame(
            self._table, self.config, check_ids(self._ids(), str(self.table_path)), str(self.table_path)
        )

    def iter_batches(self, batch_size: int) -> Iterator[Batch]:
        ids, config = self._ids(), self.config
        targets = self._table[config.target].to_numpy()
        for start in range(0, self.num_examples, batch_size):
            stop = min(start + batch_size, self.num_examples)
            images = decode_images(
                [str(f) for f in self._files[start:stop]], f"{self.table_path} rows {start}-{stop - 1}"
            )
            yield Batch(
                ids=ids[start:stop],
                inputs=images,
                targets=targets[start:stop],
                attributes={a: self._table[a].to_numpy()[start:stop] for a in config.attributes},
            )


def _open_parquet(request: SourceRequest) -> ParquetReader:
    return ParquetReader(request.config, request.path)


def _open_npz(request: SourceRequest) -> NpzReader:
    return NpzReader(request.config, request.path)


def _open_images(request: SourceRequest) -> ImageFolderReader:
    config = request.config
    if config.table is None:
        raise RunError(
            f"dataset '{config.path}': the images source needs `table` (CSV/Parquet of paths and labels)."
        )
    return ImageFolderReader(config, request.path, request.resolve(config.table))


BUILTIN_SOURCES = (
    DatasetSourceSpec(
        "parquet", _open_parquet, "Parquet file: image bytes, tensors, list columns, features or text."
    ),
    DatasetSourceSpec("npz", _open_npz, "NumPy .npz archive with one array per key."),
    DatasetSourceSpec(
        "images", _open_images, "Folder of image files plus a CSV/Parquet table of paths and labels."
    ),
)
