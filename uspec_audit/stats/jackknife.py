"""Comparing spreads across test sets with the jackknife (docs/methods.md §5; UP §6.1).

The statistic is the SD across members of a metric on a test. Its standard
error comes from the jackknife over *examples*: delete-one when n is at most
the number of blocks G, otherwise delete-a-block with G random blocks of
(nearly) equal size. With θ_(g) the SD computed without block g and θ̄ their
mean, ``SE^2 = (G - 1)/G * sum_g (θ_(g) - θ̄)^2``. Two tests are compared with
``z = (sd_A - sd_B) / sqrt(SE_A^2 + SE_B^2)`` and the one-sided
``p = P(Z >= z)`` (the paper: z = 2.47, p = 0.007).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from uspec_audit.stats.distributions import norm_sf

__all__ = ["block_labels", "jackknife_se", "jackknife_sd_additive", "two_sample_z"]


def block_labels(n: int, blocks: int, rng: np.random.Generator | None) -> tuple[np.ndarray, int]:
    """Block index per example and the number of blocks G (G = n: delete-one)."""
    if n <= blocks:
        return np.arange(n), n
    order = rng.permutation(n) if rng is not None else np.arange(n)
    lab = np.empty(n, dtype=np.int64)
    lab[order] = np.arange(n) * blocks // n
    return lab, blocks


def jackknife_se(stat: Callable[[np.ndarray], float], labels: np.ndarray, g: int) -> float:
    """Jackknife SE of a statistic; ``stat(keep_mask)`` computes it on the kept examples."""
    if g < 2:
        return float("nan")
    theta = np.array([stat(labels != b) for b in range(g)], dtype=np.float64)
    if np.isnan(theta).any():
        return float("nan")
    return float(np.sqrt((g - 1.0) / g * ((theta - theta.mean()) ** 2).sum()))


def jackknife_sd_additive(
    x: np.ndarray, blocks: int = 50, rng: np.random.Generator | None = None
) -> tuple[float, float, np.ndarray]:
    """SD across members of the example-mean of ``x`` ``(M, n)`` and its jackknife SE.

    All leave-block-out values at once from per-block sums. Returns
    ``(sd, se, theta)`` with ``theta`` the ``(G,)`` leave-block-out SDs. NaN
    for M < 2 or n < 2.
    """
    x = np.asarray(x, dtype=np.float64)
    m, n = x.shape
    if m < 2 or n < 2:
        return float("nan"), float("nan"), np.zeros(0)
    full = float(np.std(x.mean(axis=1), ddof=1))
    lab, g = block_labels(n, blocks, rng)
    bcount = np.bincount(lab, minlength=g).astype(np.float64)
    if g == n:
        bsum = x[:, np.argsort(lab)]
    else:
        order = np.argsort(lab, kind="stable")
        starts = np.concatenate([[0], np.cumsum(bcount)[:-1]]).astype(np.int64)
        bsum = np.add.reduceat(x[:, order], starts, axis=1)
    means = (x.sum(axis=1, keepdims=True) - bsum) / (n - bcount)[None, :]  # (M, G)
    theta = np.std(means, axis=0, ddof=1)
    se = float(np.sqrt((g - 1.0) / g * ((theta - theta.mean()) ** 2).sum()))
    return full, se, theta


def two_sample_z(sd_a: float, se_a: float, sd_b: float, se_b: float) -> tuple[float, float]:
    """z = (sd_a - sd_b)/sqrt(se_a^2 + se_b^2) and the one-sided p = P(Z >= z) under N(0, 1)."""
    den = np.sqrt(se_a**2 + se_b**2)
    if not np.isfinite(den) or den == 0 or not np.isfinite(sd_a) or not np.isfinite(sd_b):
        return float("nan"), float("nan")
    z = (sd_a - sd_b) / den
    return float(z), norm_sf(z)
