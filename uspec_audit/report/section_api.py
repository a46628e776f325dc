"""What a report section receives (:class:`uspec_audit.ReportSectionSpec`): the results and a few helpers.

Importing this module is cheap; matplotlib loads only when a section adds a figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SectionRequest:
    """One section being rendered.

    Attributes:
        results: the results folder (:class:`uspec_audit.report.tables.Results`): ``results.table(name,
            *columns)`` gives a table (``None`` when it is missing, empty or lacks a column), ``results.manifest``
            the manifest, ``results.tests`` and ``results.ensembles`` what ran.
        number: the section's number in the page (the contents number sections in order).
        name: the section's anchor.
        title: its title.
        figures: the page's figures so far (``figure`` appends; figure numbers run through the page).
        advance: report progress (a section with several slow parts may call it; the page advances once per
            section anyway).
    """

    results: Any
    number: int
    name: str
    title: str
    figures: list = field(default_factory=list)
    advance: Callable[[], None] = lambda: None

    def heading(self) -> str:
        """``<h2 id="NAME">N. Title</h2>``: the heading a section starts with."""
        from uspec_audit.report.blocks import e

        return f'<h2 id="{e(self.name)}">{self.number}. {e(self.title)}</h2>'

    @staticmethod
    def escape(value: Any) -> str:
        """``value`` as HTML text (every value taken from the results must pass through it)."""
        from uspec_audit.report.blocks import e

        return e(value)

    def table(self, headers: list[str], rows: list[list[Any]], caption: str = "") -> str:
        """A table of escaped values (headers and cells are escaped here; ``caption`` is HTML)."""
        from uspec_audit.report.blocks import e, table

        return table([e(h) for h in headers], [[e(c) for c in row] for row in rows], caption=caption)

    def figure(self, fig: Any, *, title: str, alt: str, guide: str = "", id: str = "") -> str:
        """A numbered figure from a matplotlib figure (SVG, PNG when large; the figure is closed), with its
        caption: ``title`` (bold), ``guide`` (how to read it), ``alt`` (the text alternative)."""
        from uspec_audit.report.blocks import figure_html
        from uspec_audit.report.figure_base import encode, slug

        encoded = encode(fig, id or slug(self.name, title), title, alt, guide)
        return figure_html(encoded, self.figures)
