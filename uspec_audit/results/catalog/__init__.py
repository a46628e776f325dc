"""The catalog of result tables: every table a run writes, its file, what one row is, and its columns.

The one place a result table's columns are declared (name, Arrow type, nullable, description), in the
order they are written (:mod:`.tables`, :mod:`.summary`). Everything else comes from here:

- the documented schemas ``schemas/tables/<table>.schema.json`` and ``docs/results.md``
  (``python -m uspec_audit.results.schemas`` rewrites both; a test fails on drift);
- the column order of every writer (:func:`column_names`; the statistics tables are built by
  :func:`uspec_audit.stats.tables.frame`), and the check every table passes before it is written
  (:func:`uspec_audit.results.writer.write_result_table`);
- the result file names (:data:`RESULT_FILES`) and the reports' table list (:func:`report_tables`).
"""

from __future__ import annotations

from typing import Literal

from uspec_audit.results.catalog.model import TYPES, Column, Table
from uspec_audit.results.catalog.summary import SUMMARY
from uspec_audit.results.catalog.tables import (
    CALIBRATION,
    CONTRACTS,
    CORRELATIONS,
    CORRUPTIONS,
    DIFFERENCES,
    DISAGREEMENT,
    FLIPS,
    MARGINALIZATION,
    METRICS,
    PCA,
    PREDICTIONS,
    REX,
)

__all__ = ["TYPES", "Column", "Table", "TABLES", "RESULT_FILES", "column_names", "report_tables"]

# In the order the docs list them (and the reports read them).
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        PREDICTIONS,
        METRICS,
        SUMMARY,
        CONTRACTS,
        CORRELATIONS,
        CALIBRATION,
        PCA,
        MARGINALIZATION,
        REX,
        FLIPS,
        DISAGREEMENT,
        CORRUPTIONS,
        DIFFERENCES,
    )
}

# The top-level result tables' files (the predictions are one file per ensemble, test and variant).
RESULT_FILES: tuple[str, ...] = tuple(t.file for t in TABLES.values() if "/" not in t.file)


def column_names(table: str) -> list[str]:
    """The columns of ``table``, in the order they are written."""
    return list(TABLES[table].column_names)


def report_tables(need: Literal["required", "optional"]) -> tuple[str, ...]:
    """The tables the reports read: the ``required`` ones (a report fails without them) or the ``optional``
    ones (their sections are left out without them)."""
    return tuple(name for name, t in TABLES.items() if t.report == need)
