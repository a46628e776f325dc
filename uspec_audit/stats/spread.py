"""Spread of a metric across ensemble members (docs/methods.md §1; UP §4, Table 1).

All functions take the per-member values ``s`` of one metric on one test
(shape ``(M,)``; NaN entries are members whose metric is undefined and are
dropped). Standard deviations are sample SDs (``ddof=1``); with fewer than two
members the SD and everything built on it is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Spread", "spread", "sd", "sd_ratio", "scaled_deviation", "worst_best"]


@dataclass(frozen=True)
class Spread:
    """Summary of a metric across members."""

    n_members: int
    mean: float
    sd: float
    min: float
    max: float
    range: float


def _finite(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    return v[~np.isnan(v)]


def sd(values: np.ndarray) -> float:
    """Sample standard deviation (ddof=1) of the non-NaN values; NaN with fewer than two."""
    v = _finite(values)
    return float(np.std(v, ddof=1)) if v.size >= 2 else float("nan")


def spread(values: np.ndarray) -> Spread:
    """Mean, sd (ddof=1), min, max and range of the non-NaN member values."""
    v = _finite(values)
    if v.size == 0:
        nan = float("nan")
        return Spread(0, nan, nan, nan, nan, nan)
    lo, hi = float(v.min()), float(v.max())
    return Spread(int(v.size), float(v.mean()), sd(v), lo, hi, hi - lo)


def sd_ratio(values_t: np.ndarray, values_ref: np.ndarray) -> float:
    """sd(t) / sd(ref): the headline number of UP §5.1.

    NaN when either SD is undefined or sd(ref) is zero (all members identical on
    the reference test: the ratio is undefined, not infinite).
    """
    a, b = sd(values_t), sd(values_ref)
    if not np.isfinite(a) or not np.isfinite(b) or b == 0.0:
        return float("nan")
    return a / b


def scaled_deviation(values_t: np.ndarray, values_ref: np.ndarray) -> np.ndarray:
    """z_m(t) = (s_m(t) - mean(t)) / sd(ref), per member (parallel-axis plots, UP Fig. 4).

    NaN members stay NaN; the whole vector is NaN when sd(ref) is undefined or 0.
    """
    s = np.asarray(values_t, dtype=np.float64)
    d = sd(values_ref)
    if not np.isfinite(d) or d == 0.0:
        return np.full(s.shape, np.nan)
    return (s - np.nanmean(s)) / d


def worst_best(values: np.ndarray, higher_is_better: bool) -> tuple[int | None, int | None]:
    """Indices of the worst and the best member (NaN members ignored; None if all NaN).

    Ties resolve to the first member in the given order.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or np.isnan(v).all():
        return None, None
    if higher_is_better:
        return int(np.nanargmin(v)), int(np.nanargmax(v))
    return int(np.nanargmax(v)), int(np.nanargmin(v))
