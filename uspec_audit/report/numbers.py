"""Numbers and text as every report shows them: one format per column, p-values as ``< 0.001``, and text
from the results (names, labels, notes) with its control characters made visible.

A column is formatted with one number of decimals, chosen from its values: enough for ``sig`` significant
digits on the largest value and 2 on the smallest non-zero one (capped), or scientific notation for the
whole column when its values span more than that allows. So a column never mixes ``6.1e-03`` and ``0.19``.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

MISSING = "—"
MAX_DECIMALS = 5
# Characters that change how a terminal or an editor shows the text around them: C0/C1 controls (ANSI escape
# sequences start with ESC), bidirectional overrides and isolates ("Trojan Source"), line/paragraph separators.
_BIDI = {"\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}


def isnum(x: Any) -> bool:
    """A real, finite-or-infinite number (not None, NaN, NA or a string)."""
    if x is None or isinstance(x, bool | str):
        return False
    try:
        return not pd.isna(x) and not math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def clean(text: Any, keep: str = "") -> str:
    """``text`` with control, bidirectional-override and separator characters shown as ``\\xNN`` / ``\\uNNNN``
    (the characters in ``keep``, e.g. newlines of a multi-line text, stay)."""
    text = "" if text is None else str(text)
    if text.isprintable() and not (_BIDI & set(text)):
        return text
    out = []
    for char in text:
        if char not in keep and (char in _BIDI or unicodedata.category(char) in ("Cc", "Zl", "Zp")):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def decimals_for(values: Iterable[Any], sig: int = 3, min_sig: int = 2) -> int | None:
    """Decimals that show ``values`` in one fixed format (``sig`` significant digits on the largest value,
    ``min_sig`` on the smallest non-zero one), or None when they need scientific notation."""
    finite = [abs(float(v)) for v in values if isnum(v) and math.isfinite(float(v))]
    if not finite:
        return 0
    big = max(finite)
    nonzero = [v for v in finite if v > 0]
    if big >= 1e6 or (nonzero and min(nonzero) < 10**-MAX_DECIMALS):
        return None
    if not nonzero:
        return 0
    wanted = max(sig - 1 - math.floor(math.log10(big)), min_sig - 1 - math.floor(math.log10(min(nonzero))))
    return min(max(wanted, 0), MAX_DECIMALS)


def column_format(values: Iterable[Any], sig: int = 3, min_sig: int = 2) -> Callable[[Any], str]:
    """A formatter for every cell of a column of ``values`` (missing cells give an em dash)."""
    values = list(values)
    decimals = decimals_for(values, sig, min_sig)

    def fmt(x: Any) -> str:
        if not isnum(x):
            return MISSING
        x = float(x)
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if decimals is None:
            return f"{x:.{sig - 1}e}"
        return f"{x:,.{decimals}f}"

    return fmt


def fmt_count(x: Any) -> str:
    """An integer count with thousands separators."""
    return f"{int(x):,}" if isnum(x) else MISSING


def fmt_p(p: Any) -> str:
    """A p-value: ``< 0.001`` below one in a thousand, else three decimals (one format for every p column)."""
    if not isnum(p):
        return MISSING
    p = float(p)
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_seconds(seconds: Any) -> str:
    """A duration for the timing lines: ``0.4 s``, ``37.7 s``, ``6 min 52 s``."""
    if not isnum(seconds):
        return MISSING
    seconds = float(seconds)
    if seconds < 600:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
