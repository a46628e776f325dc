"""Atomic writes of result files: write to a temporary name, flush to disk, then rename into place.

Files get the permissions a plain ``open()`` would give under the user's umask
(0644 under umask 022), not the 0600 of :func:`tempfile.mkstemp`: result
folders are shared as evidence. A write that fails (disk full, file-size limit,
permissions) removes its temporary file and raises :class:`OutputError` naming
the file and the reason.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from uspec_audit.errors import OutputError, describe_os_error
from uspec_audit.results.catalog import TABLES
from uspec_audit.results.schemas import arrow_type_matches


@functools.cache
def file_mode() -> int:
    """``0o666`` less the process umask, read without changing it where the platform allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no other way to read it: set and restore at once
    os.umask(mask)
    return 0o666 & ~mask


def fsync_directory(folder: Path) -> None:
    """Make renames inside ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def atomic_write(path: Path, write, binary: bool = True) -> None:
    """Call ``write(stream)`` on a temporary file next to ``path``, then rename it over ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OutputError(f"cannot write {path}: {describe_os_error(error)}.") from error
    try:
        with os.fdopen(handle, "wb") if binary else os.fdopen(handle, "w", encoding="utf-8") as stream:
            write(stream)
            stream.flush()
            os.fchmod(stream.fileno(), file_mode())
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {describe_os_error(error)}.") from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write a DataFrame as Parquet, atomically."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    atomic_write(Path(path), lambda stream: pq.write_table(table, stream))


# Columns whose values are the dataset's own (a plugin's source may give ids of any type): not type-checked.
_TYPED_BY_THE_DATA = {("predictions", "example_id")}


def catalog_problem(name: str, table: pa.Table) -> str | None:
    """Why ``table`` is not the result table ``name`` of the catalog (None when it is): the catalog's columns
    in its order (the predictions: the columns of their task, so a subsequence) with fitting Arrow types."""
    spec = TABLES.get(name)
    if spec is None:
        return f"'{name}' is not a table of the catalog ({', '.join(TABLES)})"
    declared = list(spec.column_names)
    names = list(table.schema.names)
    if name == "predictions":
        extra = [n for n in names if n not in declared]
        in_order = [n for n in declared if n in names] == names
        if extra or not in_order:
            return f"columns {names} are not the catalog's {declared} in its order"
    elif names != declared:
        return f"columns {names} differ from the catalog's {declared}"
    for field in table.schema:
        column = spec.columns[declared.index(field.name)]
        if (name, field.name) in _TYPED_BY_THE_DATA:
            continue
        if not arrow_type_matches(column.type, field.type):
            return f"column '{field.name}' is {field.type}, the catalog says {column.type}"
    return None


def _checked(name: str, frame: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    problem = catalog_problem(name, table)
    if problem is not None:
        raise ValueError(
            f"internal error: the result table {name} does not match its documented schema: {problem}"
        )
    return table


def check_result_tables(tables: Mapping[str, pd.DataFrame]) -> None:
    """Raise when a result table is not as the catalog (:mod:`uspec_audit.results.catalog`) declares it: a
    table that would not match its documented schema is a bug, and is never stored or written."""
    for name, frame in tables.items():
        _checked(name, frame)


def write_result_table(name: str, frame: pd.DataFrame, path: Path) -> None:
    """Write the result table ``name`` as Parquet, atomically, after checking it against the catalog."""
    table = _checked(name, frame)
    atomic_write(Path(path), lambda stream: pq.write_table(table, stream))


def write_json(data: Any, path: Path) -> None:
    """Write JSON (sorted keys, indented), atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    atomic_write(Path(path), lambda stream: stream.write(text + "\n"), binary=False)
