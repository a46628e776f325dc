"""The vocabulary of the catalog: a result table and its columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TYPES = ("string", "int64", "double", "bool")


@dataclass(frozen=True)
class Column:
    """One column of a result table: an Arrow type name of :data:`TYPES` (or alternatives ``a|b``, as an
    example id that is an integer or a string), whether it may be null, and what it holds."""

    name: str
    type: str
    nullable: bool
    description: str


@dataclass(frozen=True)
class Table:
    """One result table: ``file`` inside the results folder, what one ``row`` is, its ``columns`` in the order
    they are written, whether the reports need it (``report``: ``"required"``, ``"optional"``, or None when
    they do not read it) and the module that builds it (``written_by``)."""

    name: str
    file: str
    row: str
    description: str
    report: Literal["required", "optional"] | None
    written_by: str
    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        names = self.column_names
        if len(set(names)) != len(names):
            raise ValueError(f"result table {self.name!r}: a column name is declared twice")
        for column in self.columns:
            if not set(column.type.split("|")) <= set(TYPES):
                raise ValueError(
                    f"result table {self.name!r}: column {column.name!r} has type {column.type!r}; "
                    f"expected one of {TYPES}"
                )

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)
