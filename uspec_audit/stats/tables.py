"""Rows of the statistics tables as typed DataFrames, with the columns of the catalog.

The statistics build their tables as lists of rows (dicts) and :class:`Block` s;
:func:`frame` turns them into a DataFrame with exactly the columns the catalog
(:mod:`uspec_audit.results.catalog`) declares for the table, in its order and
with matching dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from uspec_audit.results.catalog import TABLES

__all__ = ["Block", "frame"]


@dataclass(frozen=True)
class Block:
    """Many rows at once: ``n`` rows, each column an array of length ``n`` or a scalar (repeated)."""

    n: int
    columns: dict[str, Any]


def frame(table: str, rows: list[dict[str, Any] | Block]) -> pd.DataFrame:
    """A DataFrame with exactly the columns of ``table`` (order and dtypes); missing keys are null.

    ``rows`` holds single rows (dicts) and :class:`Block` s, in order.
    """
    cols = TABLES[table].columns
    values: dict[str, list[Any]] = {c.name: [] for c in cols}
    for r in rows:
        if isinstance(r, Block):
            for c in cols:
                v = r.columns.get(c.name)
                if isinstance(v, np.ndarray | list | tuple):
                    values[c.name].extend(np.asarray(v).tolist())
                else:
                    values[c.name].extend([v] * r.n)
        else:
            for c in cols:
                values[c.name].append(r.get(c.name))
    data: dict[str, Any] = {}
    for c in cols:
        vals = values[c.name]
        if c.type == "double":
            data[c.name] = pd.Series([np.nan if v is None else float(v) for v in vals], dtype="float64")
        elif c.type == "int64":
            s = pd.Series([None if v is None else int(v) for v in vals], dtype="Int64")
            data[c.name] = s if c.nullable else s.astype("int64")
        elif c.type == "bool":
            data[c.name] = pd.Series(vals, dtype="boolean" if c.nullable else "bool")
        else:
            data[c.name] = pd.Series([None if v is None else str(v) for v in vals], dtype="object")
    return pd.DataFrame(data, columns=[c.name for c in cols])
