"""Tables that fit the terminal: the columns that matter always stay whole, the others make room.

A column has a priority: 0 means it is always on the row's line; the others
join the line in priority order while the line fits the width. A secondary
column that does not fit moves to a dim second line under its row
(``detail=True``) or is left out, with a note pointing to the HTML report.
Cells are never cut: a label wider than its column goes on a line of its own,
whole, with the row's numbers on the next line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.text import Text

GAP = 2
INDENT = 4


@dataclass
class Column:
    header: str
    justify: str = "left"  # left | right
    priority: int | None = 0  # 0: always on the row's line; larger: dropped earlier; None: never shown
    detail: str | None = None  # name on the second line when the column does not fit; None: left out instead


@dataclass
class FitTable:
    """Rows of Text (or str) cells; ``sections`` are row indices preceded by a blank line."""

    title: str
    columns: list[Column]
    rows: list[list[Text]] = field(default_factory=list)
    sections: set[int] = field(default_factory=set)
    footnote: str = ""

    def add_row(self, *cells: Text | str, section: bool = False) -> None:
        if section and self.rows:
            self.sections.add(len(self.rows))
        self.rows.append([c if isinstance(c, Text) else Text(str(c)) for c in cells])

    def render(self, width: int) -> list[Text]:
        """The table as lines of at most ``width`` cells (a single over-long label excepted)."""
        widths = [
            max([cell_len(c.header)] + [r[i].cell_len for r in self.rows]) for i, c in enumerate(self.columns)
        ]
        shown = [i for i, c in enumerate(self.columns) if c.priority == 0]
        total = sum(widths[i] for i in shown) + GAP * (len(shown) - 1)
        for i in sorted(
            (i for i, c in enumerate(self.columns) if c.priority is not None and c.priority > 0),
            key=lambda i: (self.columns[i].priority, i),
        ):
            if total + GAP + widths[i] > width:
                break  # strictly in priority order: a narrow minor column never displaces a wider major one
            shown.append(i)
            total += GAP + widths[i]
        shown.sort()
        hidden = [i for i, c in enumerate(self.columns) if i not in shown and c.priority is not None]
        first = shown[0]
        if total > width:  # the must-have columns alone are too wide: the first (label) column gives way
            widths[first] = max(cell_len(self.columns[first].header), widths[first] - (total - width))
        lines = [Text(self.title, style="bold")]
        lines.append(self._line([Text(self.columns[i].header, style="bold") for i in shown], shown, widths))
        lines.append(
            Text("─" * min(width, sum(widths[i] for i in shown) + GAP * (len(shown) - 1)), style="dim")
        )
        for r, row in enumerate(self.rows):
            if r in self.sections:
                lines.append(Text(""))
            cells = [row[i] for i in shown]
            if row[first].cell_len > widths[first]:
                lines.append(row[first].copy())
                cells = [Text("")] + cells[1:]
            lines.append(self._line(cells, shown, widths))
            details = [
                (detail, row[i])
                for i in hidden
                if (detail := self.columns[i].detail) is not None and row[i].plain.strip() not in ("", "—")
            ]
            if details:
                lines += self._details(details, width)
        dropped = [self.columns[i].header for i in hidden if self.columns[i].detail is None]
        if dropped:
            lines.append(
                Text(
                    f"Not shown at this width: {', '.join(dropped)} (in report.html, or widen the terminal).",
                    style="dim",
                )
            )
        if self.footnote:
            lines.append(Text(self.footnote, style="dim"))
        return lines

    def _line(self, cells: list[Text], shown: list[int], widths: list[int]) -> Text:
        line = Text()
        for k, (cell, i) in enumerate(zip(cells, shown, strict=True)):
            pad = max(widths[i] - cell.cell_len, 0)
            if k:
                line.append(" " * GAP)
            if self.columns[i].justify == "right":
                line.append(" " * pad)
                line.append_text(cell)
            else:
                line.append_text(cell)
                if k < len(shown) - 1:
                    line.append(" " * pad)
        return line

    @staticmethod
    def _details(details: list[tuple[str, Text]], width: int) -> list[Text]:
        """The row's hidden columns as ``name value · name value``, wrapped between items."""
        lines: list[Text] = []
        line = Text(" " * INDENT, style="dim")
        for name, value in details:
            item = Text(f"{name} " if name else "", style="dim")
            item.append_text(value.copy())
            item.stylize("dim")
            separator = " · " if line.cell_len > INDENT else ""
            if line.cell_len > INDENT and line.cell_len + len(separator) + item.cell_len > width:
                lines.append(line)
                line, separator = Text(" " * INDENT, style="dim"), ""
            line.append(separator, style="dim")
            line.append_text(item)
        lines.append(line)
        return lines
