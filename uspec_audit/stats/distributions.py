"""The few :mod:`scipy.stats` functions the statistics use, from :mod:`scipy.special` and numpy.

Importing :mod:`scipy.stats` costs 0.5-1 s of CPU on every run (it parses the
docstrings of hundreds of distributions at import), which is more than every
use below takes together; on a machine whose cores the members keep busy it
adds directly to the wall clock. These are the same definitions (average ranks
for ties, NaN rows propagate; Benjamini-Hochberg step-up; the exact
t-distribution p-value of a Pearson r), checked against :mod:`scipy.stats` on
random and tied inputs in ``tests/stats/test_distributions.py``.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["bh_adjusted", "f_sf", "norm_sf", "pearson_p", "rankdata", "spearman"]


def rankdata(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Average ranks (1..n, ties share the mean of their ranks) along ``axis`` (None: of the flattened array).

    A slice holding a NaN is all NaN (``scipy.stats.rankdata``'s default ``nan_policy="propagate"``).
    """
    x = np.asarray(a, dtype=np.float64)
    if axis is None:
        x, axis = x.ravel(), -1
    moved = np.moveaxis(x, axis, -1)
    shape = moved.shape
    n = shape[-1]
    rows = moved.reshape(int(np.prod(shape[:-1])), n)
    ranks = np.empty(rows.shape)
    if n:
        order = np.argsort(rows, axis=1, kind="stable")
        sorted_rows = np.take_along_axis(rows, order, axis=1)
        position = np.broadcast_to(np.arange(n), rows.shape)
        starts_group = np.ones(rows.shape, dtype=bool)
        starts_group[:, 1:] = sorted_rows[:, 1:] != sorted_rows[:, :-1]
        ends_group = np.ones(rows.shape, dtype=bool)
        ends_group[:, :-1] = starts_group[:, 1:]
        first = np.maximum.accumulate(np.where(starts_group, position, 0), axis=1)
        last = np.minimum.accumulate(np.where(ends_group, position, n - 1)[:, ::-1], axis=1)[:, ::-1]
        np.put_along_axis(ranks, order, (first + last) / 2.0 + 1.0, axis=1)
        ranks[np.isnan(rows).any(axis=1)] = np.nan
    return np.moveaxis(ranks.reshape(shape), -1, axis)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho of two 1-d arrays: the Pearson correlation of their average ranks (as
    ``scipy.stats.spearmanr(x, y).statistic``)."""
    return float(np.corrcoef(np.column_stack([rankdata(x), rankdata(y)]), rowvar=False)[1, 0])


def pearson_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p-value of the Pearson correlation of two 1-d arrays under independent normal samples: the exact
    distribution ``scipy.stats.pearsonr`` uses ((r + 1)/2 ~ Beta(n/2 - 1, n/2 - 1)), with r computed as it does
    (scaled centred vectors), so that p-values far in the tail agree too. NaN for fewer than 3 pairs or a
    constant side."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.size
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    xm, ym = x - x.mean(), y - y.mean()
    xmax, ymax = np.abs(xm).max(), np.abs(ym).max()
    normxm, normym = xmax * np.linalg.norm(xm / xmax), ymax * np.linalg.norm(ym / ymax)
    r = float(np.clip(np.dot(xm / normxm, ym / normym), -1.0, 1.0))  # np.vecdot needs numpy 2
    if not np.isfinite(r):
        return float("nan")
    ab = n / 2.0 - 1.0
    at = (r + 1.0) / 2.0  # r as a Beta(ab, ab) variable on [0, 1]
    return float(min(1.0, 2.0 * min(special.betainc(ab, ab, at), special.betaincc(ab, ab, at))))


def norm_sf(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return float(special.ndtr(-z))


def f_sf(f: float, dfn: float, dfd: float) -> float:
    """P(F >= f) for an F distribution with ``dfn``, ``dfd`` degrees of freedom."""
    return float(special.fdtrc(dfn, dfd, f))


def bh_adjusted(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values of a 1-d array of finite p-values (``min over j >= i of p_(j) m / j``,
    at most 1), in the input's order."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (m / np.arange(1, m + 1, dtype=np.float64))
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.clip(adjusted, 0.0, 1.0)
    return out
