"""Verdicts per row and metric (docs/methods.md §14).

Statistics are computed for every row; the verdict is a separate, calibrated
reading of two tests computed from the metric's own per-example values:

- ``insufficient``: fewer members with a value than ``min_members`` (the
  statistics are still shown), or neither test could be computed for the row
  (the reason says why);
- ``underspecified``: the excess test (:mod:`.excess`; members differ on this
  row more than their iid differences predict) has ``excess_p_adj < alpha``
  **and** the excess sd reaches the practical floor ``min_excess_ratio`` times
  the iid scale ``max(iid systematic sd, iid noise sd)``;
- ``degraded``: not underspecified, and the paired ``row - iid`` difference of
  the ensemble mean is significantly in the bad direction
  (``degraded_p_adj < alpha``): a failure every member shares;
- ``stable``: otherwise, and for the reference (iid) row itself.

With FDR control off the raw p-values are used (the ``*_p_adj`` columns are
null then). Each verdict comes with a one-sentence reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["VERDICTS", "VerdictInputs", "verdict", "fmt_p"]

VERDICTS = ("insufficient", "underspecified", "degraded", "stable")


def _ok(x: float | None) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def fmt_p(p: float) -> str:
    """A p-value in a reason: 3 significant digits, '<1e-4' below 1e-4."""
    if not _ok(p):
        return "n/a"
    return "<1e-4" if p < 1e-4 else f"{p:.2g}"


def _g(x: float) -> str:
    return f"{x:.3g}" if _ok(x) else "n/a"


@dataclass(frozen=True)
class VerdictInputs:
    """What the verdict of one summary row is read from (p-values already BH-adjusted when FDR is on)."""

    n_members: int
    is_reference: bool
    excess_p: float
    excess_sd: float
    floor_sd: float
    degraded_p: float
    difference: float
    difference_ci: tuple[float, float]
    ratio: float
    ratio_ci: tuple[float, float]
    perm_p: float = float("nan")
    adjusted: bool = True
    note: str = ""


def verdict(x: VerdictInputs, min_members: int = 5, alpha: float = 0.05) -> tuple[str, str]:
    """``(verdict, reason)`` of one row (rules in the module docstring); NaN never triggers a flag."""
    p_name = "p_adj" if x.adjusted else "p"
    if x.n_members < min_members:
        return "insufficient", (
            f"{x.n_members} member{'s' if x.n_members != 1 else ''}, fewer than min_members = {min_members}; "
            "statistics shown, no verdict"
        )
    if x.is_reference:
        return "stable", f"reference (iid) test; members differ on iid: perm p={fmt_p(x.perm_p)}"
    if not _ok(x.excess_p) and not _ok(x.degraded_p):
        return "insufficient", f"no test possible: {x.note or 'no per-example resampling'}"
    ratio = (
        f"systematic sd {x.ratio:.2g}x iid [{x.ratio_ci[0]:.2g}, {x.ratio_ci[1]:.2g}]"
        if _ok(x.ratio) and _ok(x.ratio_ci[0])
        else (f"systematic sd {x.ratio:.2g}x iid" if _ok(x.ratio) else "")
    )
    significant = _ok(x.excess_p) and x.excess_p < alpha
    big = _ok(x.excess_sd) and _ok(x.floor_sd) and x.excess_sd >= x.floor_sd
    if significant and big:
        return "underspecified", (
            f"excess sd {_g(x.excess_sd)} beyond what iid predicts (floor {_g(x.floor_sd)}), excess {p_name}="
            f"{fmt_p(x.excess_p)}" + (f"; {ratio}" if ratio else "")
        )
    drop = (
        f"mean {x.difference:+.3g} vs iid [{x.difference_ci[0]:+.3g}, {x.difference_ci[1]:+.3g}]"
        if _ok(x.difference) and _ok(x.difference_ci[0])
        else "mean difference n/a"
    )
    if _ok(x.degraded_p) and x.degraded_p < alpha:
        return "degraded", f"{drop}, degraded {p_name}={fmt_p(x.degraded_p)}; no excess spread over iid"
    if significant:
        spread = f"excess {p_name}={fmt_p(x.excess_p)} but excess sd {_g(x.excess_sd)} below the floor {_g(x.floor_sd)}"
    else:
        spread = f"no excess spread over iid (excess {p_name}={fmt_p(x.excess_p)})"
    return "stable", f"{spread}; no significant drop (degraded {p_name}={fmt_p(x.degraded_p)})"
