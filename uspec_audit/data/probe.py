"""Read a dataset's schema without reading its data: for ``uspec-audit validate``.

* Parquet: the footer (column names and Arrow types, row count). For a column of
  encoded images, the header of the first image (PIL reads width, height and
  mode without decoding the pixels).
* npz: the zip index and each array's ``.npy`` header (shape and dtype); no
  array is decompressed.
* images: the table's header (CSV: the first line; Parquet: the footer) and the
  header of the first image file.

The per-example input shape is the *raw* shape the source will yield (images
``(H, W, C)``, list columns their declared ``shape``, tabular features
``(F,)``), i.e. what the ensemble's ``preprocess`` turns into the model input.
Plugin sources are not probed (:func:`probe_dataset` returns None).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from uspec_audit.config.models import Dataset
from uspec_audit.files import regular_file

BUILTIN = ("parquet", "npz", "images")


class ProbeError(Exception):
    """A dataset file whose schema cannot be read (the message is for the user as is)."""


@dataclass
class DatasetSchema:
    """What a dataset holds, read from headers only."""

    where: Path  # the file the column names come from (Parquet file, npz archive, image table)
    columns: list[str]
    kinds: dict[str, str] = field(
        default_factory=dict
    )  # column -> image | tensor | list | number | text | other
    num_rows: int | None = None
    input_shape: tuple[int, ...] | None = None  # raw shape of one example's input, when known
    input_kind: str = "other"
    problems: list[tuple[str, str]] = field(default_factory=list)  # (audit key, problem) found while probing


def _image_shape(data: bytes | str | Path) -> tuple[int, int, int]:
    """(H, W, C) of an image as :func:`uspec_audit.data.decode.decode_image` will return it (header only)."""
    from PIL import Image

    if not isinstance(data, bytes | bytearray):
        regular_file(Path(data), "image")  # a FIFO would block the open forever
    with Image.open(io.BytesIO(data) if isinstance(data, bytes | bytearray) else data) as image:
        width, height = image.size
        return (height, width, 1 if image.mode == "L" else 3)


def _arrow_kind(kind) -> str:
    import pyarrow as pa

    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "image"
    if isinstance(kind, pa.FixedShapeTensorType):
        return "tensor"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return "list"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text"
    if pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return "number"
    if pa.types.is_dictionary(kind):
        return "text"
    return "other"


def _fixed_list_size(kind) -> int | None:
    """Values per row of (nested) fixed-size lists, None when some level is variable."""
    import pyarrow as pa

    size = 1
    while pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        if not pa.types.is_fixed_size_list(kind):
            return None
        size *= kind.list_size
        kind = kind.value_type
    return size


def _probe_parquet(config: Dataset, path: Path) -> DatasetSchema:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise ProbeError(f"{path}: not a readable Parquet file ({error}).") from error
    arrow = parquet.schema_arrow
    schema = DatasetSchema(
        path, list(arrow.names), {f.name: _arrow_kind(f.type) for f in arrow}, parquet.metadata.num_rows
    )
    if config.features:
        _feature_shape(config, schema)
        return schema
    if config.input not in schema.kinds:
        return schema
    kind = arrow.field(config.input).type
    schema.input_kind = schema.kinds[config.input]
    if schema.input_kind == "tensor":
        schema.input_shape = tuple(int(d) for d in kind.shape)
    elif schema.input_kind == "list":
        if config.shape is None:
            schema.problems.append(
                (
                    "shape",
                    f"column '{config.input}' is a list column; declare the shape of one "
                    f"example with shape = [...] in the dataset table.",
                )
            )
        else:
            schema.input_shape = tuple(config.shape)
            fixed = _fixed_list_size(kind)
            if fixed is not None and fixed != int(np.prod(config.shape)):
                schema.problems.append(
                    (
                        "shape",
                        f"column '{config.input}' holds {fixed} values per row; shape "
                        f"{list(config.shape)} needs {int(np.prod(config.shape))}.",
                    )
                )
    elif schema.input_kind == "number":
        schema.input_shape = (1,)
    elif schema.input_kind == "image" and schema.num_rows:
        # one value: a buffered, non-pre-buffered reader streams the first data page, not the row group
        streaming = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 16)
        first = next(streaming.iter_batches(batch_size=1, columns=[config.input]), None)
        value = first.column(0)[0].as_py() if first is not None and first.num_rows else None
        if value is not None:
            try:
                schema.input_shape = _image_shape(value)
            except Exception as error:  # PIL raises several types for data that is not an image
                schema.problems.append(
                    (
                        "input",
                        f"column '{config.input}' holds bytes that are not an image "
                        f"PIL can read ({type(error).__name__}: {error}).",
                    )
                )
    elif schema.input_kind == "other":
        schema.problems.append(
            (
                "input",
                f"column '{config.input}' has type {kind}; expected encoded image bytes, "
                f"a fixed-shape tensor, a list column with a declared shape, numbers or "
                f"strings.",
            )
        )
    return schema


def _feature_shape(config: Dataset, schema: DatasetSchema) -> None:
    schema.input_kind = "number"
    bad = [f for f in config.features or [] if f in schema.kinds and schema.kinds[f] != "number"]
    if bad:
        schema.problems.append(("features", f"feature columns must be numeric; {bad} are not."))
    schema.input_shape = (len(config.features or []),)


def _npy_header(archive: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one ``.npy`` member, from its header (the first few hundred bytes)."""
    fmt = np.lib.format
    with archive.open(name) as handle:
        version = fmt.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(handle)
        else:  # 3.0 (utf-8 field names) has no public reader
            shape, _, dtype = fmt._read_array_header(handle, version)  # type: ignore[attr-defined]  # private
    return tuple(int(s) for s in shape), dtype


def _probe_npz(config: Dataset, path: Path) -> DatasetSchema:
    try:
        with zipfile.ZipFile(path) as archive:
            headers = {}
            for name in archive.namelist():
                if name.endswith(".npy"):
                    headers[name[:-4]] = _npy_header(archive, name)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ProbeError(f"{path}: not a readable .npz archive ({error}).") from error
    kinds = {}
    for key, (shape, dtype) in headers.items():
        if dtype.hasobject:
            kinds[key] = "object"
        elif dtype.kind in "biuf":
            kinds[key] = "number" if len(shape) <= 1 else "tensor"
        elif dtype.kind in "US":
            kinds[key] = "text"
        else:
            kinds[key] = "other"
    target = headers.get(config.target)
    schema = DatasetSchema(path, list(headers), kinds, target[0][0] if target and target[0] else None)
    for key, kind in kinds.items():
        used = key in (config.input, config.target, config.id, *config.attributes, *(config.features or []))
        if kind == "object" and used:
            schema.problems.append(
                (
                    "input" if key == config.input else "attributes",
                    f"key '{key}' is an object array, which needs pickle to load (refused); store "
                    f"strings as fixed-width unicode arrays (dtype '<U…').",
                )
            )
    if config.features:
        _feature_shape(config, schema)
    elif config.input in headers:
        shape, dtype = headers[config.input]
        schema.input_kind = "text" if dtype.kind in "US" else kinds[config.input]
        schema.input_shape = shape[1:] if len(shape) > 1 else (1,)
        if schema.num_rows is not None and shape and shape[0] != schema.num_rows:
            schema.problems.append(
                ("input", f"'{config.input}' has {shape[0]} examples, '{config.target}' {schema.num_rows}.")
            )
    return schema


def _probe_images(config: Dataset, folder: Path, table: Path) -> DatasetSchema:
    import pandas as pd
    import pyarrow.parquet as pq

    try:
        if table.suffix.lower() == ".csv":
            head = pd.read_csv(table, nrows=1)
            columns, rows = [str(c) for c in head.columns], None
            first = head.iloc[0].to_dict() if len(head) else None
        else:
            parquet = pq.ParquetFile(table)
            columns, rows = list(parquet.schema_arrow.names), parquet.metadata.num_rows
            batch = next(parquet.iter_batches(batch_size=1), None)
            first = batch.to_pylist()[0] if batch is not None and batch.num_rows else None
    except Exception as error:  # pandas and pyarrow raise many types for a damaged table
        raise ProbeError(
            f"{table}: cannot read the image table ({type(error).__name__}: {error})."
        ) from error
    schema = DatasetSchema(table, columns, {c: "other" for c in columns}, rows, input_kind="image")
    if first is not None and config.path_column in first:
        image = folder / str(first[config.path_column])
        try:
            schema.input_shape = _image_shape(image)
        except FileNotFoundError:
            schema.problems.append(("path_column", f"the first image of the table, {image}, does not exist."))
        except Exception as error:  # PIL raises several types for files that are not images
            schema.problems.append(("path_column", f"{image} is not an image PIL can read ({error})."))
    return schema


def probe_dataset(config: Dataset, base_dir: Path) -> DatasetSchema | None:
    """The schema of a built-in source's dataset, or None for a plugin source; raise :class:`ProbeError`."""

    def resolve(relative: str) -> Path:
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else (base_dir / candidate).resolve()

    if config.source == "parquet":
        return _probe_parquet(config, resolve(config.path))
    if config.source == "npz":
        return _probe_npz(config, resolve(config.path))
    if config.source == "images" and config.table is not None:
        return _probe_images(config, resolve(config.path), resolve(config.table))
    return None


def named_columns(config: Dataset) -> list[tuple[str, str]]:
    """(audit key, column) for every column the dataset table names (the images source's input is a file)."""
    named = [("features", f) for f in config.features or []] if config.features else []
    if not config.features and config.source != "images":
        named.append(("input", config.input))
    named.append(("target", config.target))
    if config.id:
        named.append(("id", config.id))
    named += [("attributes", a) for a in config.attributes]
    if config.source == "images":
        named.append(("path_column", config.path_column))
    return named
