"""Nested seeds: how much of the spread is between groups? (docs/methods.md §6; UP §7, Tables 3, 4)

Members carry a group (e.g. the pretraining seed, with several fine-tuning
seeds inside it). One-way ANOVA on the member metric values:
``F = MS_between / MS_within`` with p from ``F(G - 1, M - G)``, and the share
of the total sum of squares that lies between groups (eta^2 =
SS_between / SS_total).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uspec_audit.stats.distributions import f_sf

__all__ = ["AnovaResult", "anova_oneway"]


@dataclass(frozen=True)
class AnovaResult:
    f: float
    p_value: float
    between_share: float
    n_groups: int


def anova_oneway(values: np.ndarray, groups: np.ndarray) -> AnovaResult:
    """One-way ANOVA of ``values`` ``(M,)`` by ``groups`` ``(M,)`` (NaN values dropped).

    Undefined (NaN) when there are fewer than two groups, no within-group
    degrees of freedom (M = G) or every value is equal. When the within-group
    sum of squares is 0 and the between one is not, F = inf and p = 0.
    """
    v = np.asarray(values, dtype=np.float64)
    g = np.asarray(groups).astype(str)
    keep = ~np.isnan(v)
    v, g = v[keep], g[keep]
    labels, inv = np.unique(g, return_inverse=True)
    k, m = labels.size, v.size
    nan = float("nan")
    if k < 2 or m - k < 1:
        return AnovaResult(nan, nan, nan, int(k))
    counts = np.bincount(inv).astype(np.float64)
    means = np.bincount(inv, weights=v) / counts
    grand = v.mean()
    ss_between = float((counts * (means - grand) ** 2).sum())
    ss_within = float(((v - means[inv]) ** 2).sum())
    ss_total = ss_between + ss_within
    scale = max(float(np.abs(v).max()), 1.0) ** 2 * m * 1e-24
    if ss_total <= scale:
        return AnovaResult(nan, nan, nan, int(k))
    share = ss_between / ss_total
    if ss_within <= scale:
        return AnovaResult(float("inf"), 0.0, share, int(k))
    f = (ss_between / (k - 1)) / (ss_within / (m - k))
    return AnovaResult(float(f), f_sf(f, k - 1, m - k), share, int(k))
