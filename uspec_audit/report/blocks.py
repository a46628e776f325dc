"""Building blocks of the HTML report: escaping, badges, tables, figures and notes, number columns.

Every value taken from the results goes through :func:`e` (HTML-escaped, control characters made visible).
"""

from __future__ import annotations

import html as _html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from uspec_audit.report import figures as F
from uspec_audit.report.numbers import clean, column_format, isnum

MAX_TABLE_ROWS = 400
TEMPLATES = Path(__file__).with_name("templates")


def e(x: Any) -> str:
    """Escape any value for HTML text or attribute (control characters shown as ``\\xNN``)."""
    return _html.escape("" if x is None or (isinstance(x, float) and not isnum(x)) else clean(x), quote=True)


def e_pre(text: Any) -> str:
    """Escape multi-line text for a ``<pre>`` block (newlines and tabs kept)."""
    return _html.escape(clean(text, keep="\n\t"), quote=True)


def badge(verdict: Any, reason: Any = None) -> str:
    """A verdict badge; with ``reason`` the sentence that explains it, under the badge."""
    v = (
        str(verdict)
        if verdict is not None and not (isinstance(verdict, float) and not isnum(verdict))
        else "unknown"
    )
    out = f'<span class="badge v-{e(v)}">{e(v)}</span>'
    if reason is not None and not (isinstance(reason, float) and not isnum(reason)) and str(reason):
        out += f'<span class="reason">{e(reason)}</span>'
    return out


def status_badge(status: Any) -> str:
    s = str(status).upper()
    mark = {"PASS": "✓ PASS", "FAIL": "✗ FAIL"}.get(s, s)
    return f'<span class="badge s-{e(s)}">{e(mark)}</span>'


def table(
    headers: list[str],
    rows: list[list[str]],
    caption: str = "",
    num: set[int] | None = None,
    row_class: list[str] | None = None,
    sortable: bool = True,
    nowrap: set[int] | None = None,
) -> str:
    """An HTML table; ``rows`` hold ready (escaped) cell HTML; ``num`` are right-aligned column indices,
    ``nowrap`` columns that keep their content on one line (the verdict badges)."""
    num, nowrap = num or set(), nowrap or set()
    sort = ' data-sort=""' if sortable and len(rows) > 3 else ""

    def cls(i: int) -> str:
        names = (["num"] if i in num else []) + (["keep"] if i in nowrap else [])
        return f' class="{" ".join(names)}"' if names else ""

    head = "".join(f'<th scope="col"{sort}{cls(i)}>{h}</th>' for i, h in enumerate(headers))
    body = []
    for r, cells in enumerate(rows[:MAX_TABLE_ROWS]):
        tr = f' class="{row_class[r]}"' if row_class and row_class[r] else ""
        body.append(f"<tr{tr}>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(cells)) + "</tr>")
    more = ""
    if len(rows) > MAX_TABLE_ROWS:
        more = (
            f'<p class="muted">Showing {MAX_TABLE_ROWS} of {len(rows)} rows; the full table is in the '
            "results folder.</p>"
        )
    cap = f"<caption>{caption}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{more}"
    )


def figure_html(fig: F.Figure | F.Note | None, figs: list[F.Figure]) -> str:
    """A numbered figure with its caption, or a one-line note where the figure cannot be drawn."""
    if fig is None:
        return ""
    if isinstance(fig, F.Note):
        return f'<p class="figure-note"><b>{e(fig.title)}:</b> {e(fig.text)}</p>'
    figs.append(fig)
    n = len(figs)
    return (
        f'<figure id="{e(fig.id)}"><img src="{fig.src}" alt="{e(fig.alt)}" width="{fig.width_px}" '
        f'height="{fig.height_px}" loading="eager">'
        f"<figcaption><b>Figure {n}. {e(fig.title)}.</b> {e(fig.guide)}</figcaption></figure>"
    )


def ci(lo: Any, hi: Any, fmt: Callable[[Any], str]) -> str:
    """`` [lo, hi]`` under a value, or nothing when the interval is missing."""
    return f'<br><span class="ci">[{fmt(lo)}, {fmt(hi)}]</span>' if isnum(lo) and isnum(hi) else ""


def get(row: pd.Series, col: str) -> Any:
    return row[col] if col in row.index else None


def formats(frame: pd.DataFrame, spec: dict[str, tuple[tuple[str, ...], int, int]]) -> dict[str, Callable]:
    """One formatter per table column: ``spec`` maps a name to (source columns, sig, min_sig); the values of
    all source columns (a value and its CI bounds) decide the column's single format."""
    out = {}
    for name, (columns, sig, min_sig) in spec.items():
        values = (
            pd.concat([frame[c] for c in columns if c in frame.columns])
            if any(c in frame.columns for c in columns)
            else pd.Series(dtype=float)
        )
        out[name] = column_format(pd.to_numeric(values, errors="coerce"), sig=sig, min_sig=min_sig)
    return out


def synthetic_banner(manifest: dict) -> str:
    """The banner of a report on generated data (datasets marked ``synthetic = true``), or nothing."""
    names = [d.get("name") for d in manifest.get("datasets") or [] if d.get("synthetic")]
    if not names:
        return ""
    return (
        '<div class="banner synthetic" role="note"><b>Synthetic data.</b> '
        + ", ".join(f"<b>{e(n)}</b>" for n in names)
        + (" is" if len(names) == 1 else " are")
        + " generated, not collected from the real world (marked <code>synthetic = true</code> in the audit "
        "file): the numbers show how the models behave on these generated inputs, not on real ones.</div>"
    )
