"""Per-example metric matrices of a :class:`PredictionSet` for the example-level statistics.

A metric is *additive* when the member's value is the mean over examples of
a per-example quantity: accuracy (correct), error, top-5 accuracy (true class
among the five most probable, ties as in the metric), NLL, Brier, MSE, MAE. For
those, resampling examples (multi-bootstrap, jackknife) only needs the
``(M, n)`` matrix of per-example values. Definitions match
``uspec_audit.metrics`` (NLL clipped at 1e-15; Brier summed over classes).
"""

from __future__ import annotations

import numpy as np

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats.distributions import rankdata

__all__ = ["ADDITIVE", "NLL_CLIP", "binary_auc", "per_example", "risk_matrix"]

NLL_CLIP = 1e-15
ADDITIVE = ("accuracy", "error", "top5_accuracy", "nll", "brier", "mse", "mae")


def per_example(ps: PredictionSet, metric: str) -> np.ndarray | None:
    """``(M, n)`` float64 per-example values whose mean over examples is ``metric``; None if not additive.

    Rows with NaN outputs stay NaN.
    """
    if ps.is_classification:
        if metric == "accuracy":
            return ps.correct.astype(np.float64)
        if metric == "error":
            return 1.0 - ps.correct.astype(np.float64)
        if metric == "top5_accuracy":
            return _top_k_hits(ps, 5)
        if metric == "nll":
            return -np.log(np.clip(ps.true_prob.astype(np.float64), NLL_CLIP, 1.0))
        if metric == "brier":
            p = ps.outputs.astype(np.float64)
            return np.einsum("mik,mik->mi", p, p) - 2.0 * ps.true_prob.astype(np.float64) + 1.0
        return None
    f = np.asarray(ps.outputs, dtype=np.float64)
    y = np.asarray(ps.target, dtype=np.float64)[None, :]
    if metric == "mse":
        return (f - y) ** 2
    if metric == "mae":
        return np.abs(f - y)
    return None


def _top_k_hits(ps: PredictionSet, k: int) -> np.ndarray:
    """``(M, n)`` 1.0 where the true class ranks among the ``k`` most probable (ties: lower index first)."""
    p = np.asarray(ps.outputs, dtype=np.float64)
    n_classes = p.shape[-1]
    if n_classes <= k:
        return np.ones(p.shape[:2])
    y = np.asarray(ps.target).astype(np.int64)
    p_true = ps.true_prob.astype(np.float64)[..., None]
    higher = np.count_nonzero(p > p_true, axis=-1)
    tied_before = np.count_nonzero(
        (p == p_true) & (np.arange(n_classes)[None, None, :] < y[None, :, None]), axis=-1
    )
    return (higher + tied_before < k).astype(np.float64)


def risk_matrix(ps: PredictionSet, risk: str) -> np.ndarray:
    """Per-example risk for REx: ``"nll"`` or ``"error"`` (classification); squared error for regression."""
    if not ps.is_classification:
        risk = "mse"
    out = per_example(ps, risk)
    if out is None:
        raise ValueError(f"unknown REx risk {risk!r}")
    return out


def binary_auc(scores: np.ndarray, target: np.ndarray) -> np.ndarray:
    """ROC AUC of every member at once (Mann-Whitney with average ranks for ties).

    ``scores``: ``(M, n)`` scores of the positive class; ``target``: ``(n,)`` 0/1.
    NaN when one class is absent.
    """
    y = np.asarray(target).astype(bool)
    n1 = int(y.sum())
    n0 = y.size - n1
    s = np.asarray(scores, dtype=np.float64)
    if n1 == 0 or n0 == 0:
        return np.full(s.shape[0], np.nan)
    ranks = rankdata(s, axis=1)
    return (ranks[:, y].sum(axis=1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)
