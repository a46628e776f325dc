"""Verdicts per test and metric (METHODS §14).

Statistics are computed for every test; the verdict is a separate,
threshold-based reading of them:

- ``insufficient``: fewer than two members with a value (no spread to judge);
- ``underspecified``: sd ratio >= ``sd_ratio_threshold`` **and** the
  systematic-variation permutation p-value (BH-adjusted when FDR control is
  on) < ``alpha``;
- ``degraded``: the mean moves in the bad direction beyond the reference test's
  confidence interval for the mean and the row is not ``underspecified``
  (a structural failure, not underspecification). METHODS §14 says "with a
  small sd ratio"; a large sd ratio whose permutation p-value is *not*
  significant is read the same way (the spread is not shown to be
  systematic), so a clear drop is never reported as ``stable``;
- ``stable`` otherwise, and for the reference test itself.
"""

from __future__ import annotations

import math

__all__ = ["VERDICTS", "verdict"]

VERDICTS = ("insufficient", "underspecified", "degraded", "stable")


def _nan(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def verdict(
    n_members: int,
    mean: float,
    sd_ratio: float,
    perm_p: float,
    ref_ci_low: float,
    ref_ci_high: float,
    higher_is_better: bool,
    sd_ratio_threshold: float = 2.0,
    alpha: float = 0.05,
) -> str:
    """The verdict of one summary row (see module docstring); NaN inputs never trigger a flag."""
    if n_members < 2:
        return "insufficient"
    big = not _nan(sd_ratio) and sd_ratio >= sd_ratio_threshold
    if big and not _nan(perm_p) and perm_p < alpha:
        return "underspecified"
    if not _nan(mean):
        if higher_is_better and not _nan(ref_ci_low) and mean < ref_ci_low:
            return "degraded"
        if not higher_is_better and not _nan(ref_ci_high) and mean > ref_ci_high:
            return "degraded"
    return "stable"
