"""Atomic writes of result files: write to a temporary name, then rename into place."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write a DataFrame as Parquet, atomically."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    _atomic(Path(path), lambda tmp: pq.write_table(table, tmp))


def write_json(data: Any, path: Path) -> None:
    """Write JSON (sorted keys, indented), atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    _atomic(Path(path), lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
