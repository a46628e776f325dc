"""The documented schemas of the result tables, written from the catalog (:mod:`uspec_audit.results.catalog`).

``python -m uspec_audit.results.schemas`` rewrites ``schemas/tables/<table>.schema.json`` for every table
and ``docs/results.md``; a test fails when either drifts from the catalog, and another when a table written
by a run drifts from its schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from uspec_audit.results.catalog import TABLES

__all__ = [
    "SCHEMA_DIR",
    "RESULTS_DOC",
    "schema_document",
    "arrow_schema",
    "load_schema",
    "arrow_type_matches",
    "results_markdown",
    "write_schemas",
]

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "schemas" / "tables"
RESULTS_DOC = ROOT / "docs" / "results.md"
_ARROW = {"string": pa.string(), "int64": pa.int64(), "double": pa.float64(), "bool": pa.bool_()}


def schema_document(table: str) -> dict[str, Any]:
    """The JSON document of ``schemas/tables/<table>.schema.json``."""
    return {
        "table": table,
        "columns": [
            {"name": c.name, "type": c.type, "nullable": c.nullable, "description": c.description}
            for c in TABLES[table].columns
        ],
    }


def arrow_schema(table: str) -> pa.Schema:
    """The :class:`pyarrow.Schema` of ``table`` (tables whose columns all have a single type)."""
    return pa.schema([pa.field(c.name, _ARROW[c.type], nullable=c.nullable) for c in TABLES[table].columns])


def load_schema(table: str, folder: Path = SCHEMA_DIR) -> dict:
    """The schema document of a table, as committed."""
    return json.loads((folder / f"{table}.schema.json").read_text(encoding="utf-8"))


def arrow_type_matches(declared: str, actual: pa.DataType) -> bool:
    """Whether an Arrow type fits a declared type name (``a|b`` for alternatives)."""
    names = {str(actual), "string" if pa.types.is_string(actual) or pa.types.is_large_string(actual) else ""}
    if pa.types.is_integer(actual):
        names.add("int64")
    if pa.types.is_floating(actual):
        names.add("double")
    if pa.types.is_boolean(actual):
        names.add("bool")
    if pa.types.is_null(actual):
        return True  # an all-null column has no type of its own
    return any(option.strip() in names for option in declared.split("|"))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def results_markdown() -> str:
    """``docs/results.md``: every result table with its file, what a row is and its columns."""
    out = [
        "# Result tables",
        "",
        "<!-- Generated from uspec_audit/results/catalog by `python -m uspec_audit.results.schemas`; "
        "do not edit by hand (a test fails on drift). -->",
        "",
        "Every table a run writes into its results folder, as Parquet. The same columns, machine-readable, are "
        "in `schemas/tables/<table>.schema.json`. Types are Arrow types; `a|b` means either is written (an "
        "example id is an integer or a string). A nullable column holds null (or NaN for numbers) where the "
        "value is undefined.",
        "",
        "| table | file | one row per | read by the reports |",
        "|---|---|---|---|",
    ]
    for table in TABLES.values():
        out.append(
            f"| [`{table.name}`](#{table.name}) | `{table.file}` | {_cell(table.row)} | "
            f"{table.report or 'no'} |"
        )
    for table in TABLES.values():
        out += [
            "",
            f"## {table.name}",
            "",
            f"`{table.file}` — one row per {table.row}. {table.description}",
            "",
            f"Written by `{table.written_by}`.",
            "",
            "| column | type | nullable | description |",
            "|---|---|---|---|",
        ]
        out += [
            f"| `{c.name}` | {_cell(c.type)} | {'yes' if c.nullable else 'no'} | {_cell(c.description)} |"
            for c in table.columns
        ]
    return "\n".join(out) + "\n"


def write_schemas(folder: Path = SCHEMA_DIR, doc: Path = RESULTS_DOC) -> None:
    """Rewrite every table's schema file and the results document from the catalog."""
    folder.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        text = json.dumps(schema_document(table), indent=2, ensure_ascii=False) + "\n"
        (folder / f"{table}.schema.json").write_text(text, encoding="utf-8")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(results_markdown(), encoding="utf-8")


if __name__ == "__main__":  # python -m uspec_audit.results.schemas
    write_schemas()
