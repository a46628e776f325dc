"""Marginalize or select? Averaging members vs picking one (docs/methods.md §10; UP App. A, Fig. 16).

For k = 1..M, the metric of the probability-averaged ensemble of k members
(accuracy for classification, MSE of the averaged prediction for regression),
over R random member subsets of size k: mean and SD (ddof=1) across subsets.
Subsets are the prefixes of R random member orders, so one pass per order
gives every k (each prefix of size k is a uniformly random k-subset; curves
for different k share orders, which keeps them smooth without biasing any
point). Compared with the best single member chosen on the reference test
and with the oracle best member on this test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MarginalizationResult", "marginalization_curve", "smallest_k_beating"]


@dataclass(frozen=True)
class MarginalizationResult:
    k: np.ndarray  # (M,)
    mean: np.ndarray  # (M,)
    sd: np.ndarray  # (M,)
    member_values: np.ndarray  # (M,) single-member metric on this test
    metric: str
    higher_is_better: bool


def _metric(avg: np.ndarray, target: np.ndarray, classification: bool) -> float:
    if classification:
        return float((avg.argmax(axis=-1) == target).mean())
    return float(((avg - target) ** 2).mean())


def marginalization_curve(
    outputs: np.ndarray, target: np.ndarray, task: str, n_subsets: int, rng: np.random.Generator
) -> MarginalizationResult:
    """Metric of k-member averages for every k (see module docstring).

    ``outputs``: ``(M, n, K)`` probabilities or ``(M, n)`` regression predictions.
    """
    f = np.asarray(outputs, dtype=np.float64)
    cls = task != "regression"
    y = np.asarray(target).astype(np.int64) if cls else np.asarray(target, dtype=np.float64)
    m = f.shape[0]
    vals = np.empty((n_subsets, m))
    for r in range(n_subsets):
        order = rng.permutation(m)
        run = np.zeros(f.shape[1:])
        for j, idx in enumerate(order):
            run += f[idx]
            vals[r, j] = _metric(run / (j + 1), y, cls)
    member_values = np.array([_metric(f[i], y, cls) for i in range(m)])
    sd = np.std(vals, axis=0, ddof=1) if n_subsets > 1 else np.full(m, np.nan)
    return MarginalizationResult(
        np.arange(1, m + 1), vals.mean(axis=0), sd, member_values, "accuracy" if cls else "mse", cls
    )


def smallest_k_beating(mean: np.ndarray, value: float, higher_is_better: bool) -> int | None:
    """Smallest k (1-based) whose mean metric is strictly better than ``value``; None if never."""
    m = np.asarray(mean, dtype=np.float64)
    if not np.isfinite(value):
        return None
    better = m > value if higher_is_better else m < value
    hit = np.flatnonzero(better)
    return int(hit[0]) + 1 if hit.size else None
