"""Calibration per member and stratum (docs/methods.md §8; UP §6.1, Fig. 7).

Top-label confidence ``max_k p_k`` and correctness of the arg-max class, in
``n_bins`` equal-width bins ``[l, u)`` of [0, 1] (the last closed at 1), the
convention of :mod:`uspec_audit.metrics.calibration`. All members at once.
ECE = sum_b (n_b / n) |acc_b - conf_b|; Brier = mean_i sum_k (p_ik - y_ik)^2
(summed over classes for every task, as the ``brier`` metric).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Reliability", "reliability", "ece_spread"]


@dataclass(frozen=True)
class Reliability:
    bin_lower: np.ndarray  # (B,)
    bin_upper: np.ndarray  # (B,)
    confidence: np.ndarray  # (M, B) NaN for empty bins
    accuracy: np.ndarray  # (M, B)
    count: np.ndarray  # (M, B) int64
    ece: np.ndarray  # (M,)
    brier: np.ndarray  # (M,)


def reliability(probs: np.ndarray, target: np.ndarray, n_bins: int = 10) -> Reliability:
    """Reliability curves, ECE and Brier of every member.

    ``probs``: ``(M, n, K)`` class probabilities; ``target``: ``(n,)`` int labels.
    With n = 0 every value is NaN and counts are 0.
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(target).astype(np.int64)
    m, n, _ = p.shape
    edges = np.arange(n_bins + 1, dtype=np.float64) / n_bins
    conf = p.max(axis=2)
    correct = (p.argmax(axis=2) == y[None, :]).astype(np.float64)
    b = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    flat = (np.arange(m)[:, None] * n_bins + b).ravel()
    count = np.bincount(flat, minlength=m * n_bins).reshape(m, n_bins)
    csum = np.bincount(flat, weights=conf.ravel(), minlength=m * n_bins).reshape(m, n_bins)
    asum = np.bincount(flat, weights=correct.ravel(), minlength=m * n_bins).reshape(m, n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        mc = np.where(count > 0, csum / count, np.nan)
        acc = np.where(count > 0, asum / count, np.nan)
        ece = np.where(n > 0, np.abs(asum - csum).sum(axis=1) / n, np.nan)
    if n:
        pt = np.take_along_axis(p, y[None, :, None].repeat(m, axis=0), axis=2)[..., 0]
        brier = (np.einsum("mik,mik->mi", p, p) - 2.0 * pt + 1.0).mean(axis=1)
    else:
        brier = np.full(m, np.nan)
    return Reliability(edges[:-1].copy(), edges[1:].copy(), mc, acc, count.astype(np.int64), ece, brier)


def ece_spread(ece: np.ndarray) -> tuple[float, float, float]:
    """Mean, SD (ddof=1) and range of the ECE across members (NaN where undefined)."""
    e = np.asarray(ece, dtype=np.float64)
    e = e[~np.isnan(e)]
    if e.size == 0:
        return float("nan"), float("nan"), float("nan")
    return float(e.mean()), float(np.std(e, ddof=1)) if e.size > 1 else float("nan"), float(np.ptp(e))
