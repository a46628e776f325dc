"""Bootstrap replicates of any metric's member values over examples (docs/methods.md §11).

The noise covariance, the corrected sd ratio and the verdict tests of a
metric come from its *own* per-example predictions. A :class:`Recipe`
expresses a metric's member values through means of per-example rows, so one
resample of the examples (a row of counts ``W``) gives every metric at once
as ``finish(W @ rows.T / n)``:

- additive metrics (accuracy, error, top-5 accuracy, NLL, Brier, MSE, MAE):
  the rows are the per-example values, ``finish`` is the identity;
- ECE (equal-width bins of the top-label confidence, as the ``ece`` metric):
  one row per member and bin holding ``correct - confidence`` on the
  examples in that bin; ``ECE = sum_bins |mean of the row|``;
- balanced accuracy: per member and class the hits, per class the support;
  ``mean_c hits_c / support_c`` over the classes present in the resample.

ROC AUC is a weighted Mann-Whitney statistic of the resample counts
(:func:`auc_replicates`, vectorized over replicates). Any other metric
(PR-AUC, plugin metrics) is recomputed with its own function on each resample
(:func:`generic_replicates`, within a call budget per prediction set). Both
use at most :data:`GENERIC_REPLICATES` replicates.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats.bootstrap import _counts, example_index_chunks
from uspec_audit.stats.examples import per_example

__all__ = [
    "ECE_BINS",
    "GENERIC_CALL_BUDGET",
    "GENERIC_REPLICATES",
    "Recipe",
    "auc_replicates",
    "generic_replicates",
    "recipe",
]

GENERIC_REPLICATES = 200
GENERIC_CALL_BUDGET = 400_000  # metric-function calls per prediction set for metrics without a recipe
ECE_BINS = 10  # the built-in ``ece`` metric's bins


@dataclass(frozen=True)
class Recipe:
    """A metric's member values as a function of resampled means of per-example rows."""

    rows: np.ndarray  # (R, n)
    finish: Callable[[np.ndarray], np.ndarray]  # (b, R) means -> (b, M) member values
    additive: bool

    def values(self) -> np.ndarray:
        """Member values on the examples as they are (no resampling)."""
        return self.finish(self.rows.mean(axis=1)[None, :])[0]


def _identity(a: np.ndarray) -> np.ndarray:
    return a


def _ece_recipe(ps: PredictionSet, cols: np.ndarray | None) -> Recipe | None:
    probs = np.asarray(ps.outputs if cols is None else ps.outputs[:, cols], dtype=np.float64)
    if probs.ndim != 3 or not np.isfinite(probs).all():
        return None
    target = np.asarray(ps.target if cols is None else ps.target[cols]).astype(np.int64)
    m, n, _ = probs.shape
    conf = probs.max(axis=-1)
    correct = (probs.argmax(axis=-1) == target[None, :]).astype(np.float64)
    edges = np.arange(ECE_BINS + 1, dtype=np.float64) / ECE_BINS
    bins = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, ECE_BINS - 1)  # (M, n)
    rows = np.zeros((m, ECE_BINS, n))
    rows[np.arange(m)[:, None], bins, np.arange(n)[None, :]] = correct - conf
    return Recipe(rows.reshape(m * ECE_BINS, n), lambda a: np.abs(a.reshape(a.shape[0], m, ECE_BINS)).sum(-1), False)


def _balanced_recipe(ps: PredictionSet, cols: np.ndarray | None) -> Recipe | None:
    probs = np.asarray(ps.outputs if cols is None else ps.outputs[:, cols], dtype=np.float64)
    if probs.ndim != 3 or not np.isfinite(probs).all():
        return None
    target = np.asarray(ps.target if cols is None else ps.target[cols]).astype(np.int64)
    m, n, k = probs.shape
    onehot = (target[None, :] == np.arange(k)[:, None]).astype(np.float64)  # (K, n)
    correct = (probs.argmax(axis=-1) == target[None, :]).astype(np.float64)  # (M, n)
    hits = (correct[:, None, :] * onehot[None, :, :]).reshape(m * k, n)

    def finish(a: np.ndarray) -> np.ndarray:
        h = a[:, : m * k].reshape(a.shape[0], m, k)
        s = a[:, m * k :][:, None, :]
        present = s > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = np.where(present, h / np.where(present, s, 1.0), 0.0)
        return recall.sum(-1) / np.maximum(present.sum(-1), 1)

    return Recipe(np.vstack([hits, onehot]), finish, False)


def recipe(ps: PredictionSet, metric: str, cols: np.ndarray | None = None) -> Recipe | None:
    """The :class:`Recipe` of ``metric`` on the examples ``cols`` of ``ps``; None without one."""
    if metric == "ece" and ps.is_classification:
        return _ece_recipe(ps, cols)
    if metric == "balanced_accuracy" and ps.is_classification:
        return _balanced_recipe(ps, cols)
    x = per_example(ps, metric)
    if x is None:
        return None
    return Recipe(x if cols is None else x[:, cols], _identity, True)


def generic_replicates(
    fn: Callable[[np.ndarray, np.ndarray, str], float],
    ps: PredictionSet,
    cols: np.ndarray | None,
    n_boot: int,
    rng: np.random.Generator,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """``(n_boot, M)`` member values of a metric recomputed by its own function on example resamples."""
    target = np.asarray(ps.target if cols is None else ps.target[cols])
    if ps.is_classification:
        target = target.astype(np.int64)
    outputs = np.asarray(ps.outputs if cols is None else ps.outputs[:, cols], dtype=np.float64)
    m, n = outputs.shape[0], target.shape[0]
    out = np.full((n_boot, m), np.nan)
    if n == 0:
        return out
    pos = 0
    for idx in example_index_chunks(n, n_boot, rng, strata, chunk=50):
        for row in idx:
            with np.errstate(all="ignore"):
                out[pos] = [fn(target[row], outputs[j][row], ps.task) for j in range(m)]
            pos += 1
    return out


def _weighted_auc(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of one score vector ``(n,)`` under each row of example weights ``(b, n)``; ties count one half."""
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    y = positive[order]
    starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
    w = weights[:, order]
    pos = np.add.reduceat(w * y, starts, axis=1)
    neg = np.add.reduceat(w * ~y, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def auc_replicates(
    ps: PredictionSet,
    cols: np.ndarray | None,
    n_boot: int,
    rng: np.random.Generator | None,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """``(n_boot, M)`` ROC AUC of every member on example resamples, as the ``auc`` metric defines it.

    Binary: the positive-class probability; multiclass: the one-vs-rest mean
    over the classes with positives and negatives in the resample. With
    ``rng = None`` one "replicate" with every example once (the plain AUC).
    """
    probs = np.asarray(ps.outputs if cols is None else ps.outputs[:, cols], dtype=np.float64)
    target = np.asarray(ps.target if cols is None else ps.target[cols]).astype(np.int64)
    m, n, k = probs.shape
    problems = [(1, target == 1)] if ps.task == "binary" else [(c, target == c) for c in range(k)]
    chunks = [np.ones((1, n))] if rng is None else (_counts(i, n) for i in example_index_chunks(n, n_boot, rng, strata, 100))
    out = []
    for w in chunks:
        per = np.stack([np.stack([_weighted_auc(probs[j, :, c], pos, w) for c, pos in problems], axis=-1)
                        for j in range(m)], axis=1)  # (b, M, problems)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out.append(np.nanmean(per, axis=-1))
    return np.vstack(out)
