"""Bootstrap replicates of any metric's member values over examples (docs/methods.md §11).

The noise covariance, the corrected sd ratio and the verdict tests of a
metric come from its *own* per-example predictions. A :class:`Recipe` gives a
metric's member values under a resample of the examples, expressed as
example counts ``w`` (one row per replicate), so one resample serves every
metric of a row (:func:`replicate_values`):

- additive metrics (accuracy, error, top-5 accuracy, NLL, Brier, MSE, MAE):
  ``w @ x.T / n`` with x the per-example values;
- ECE (equal-width bins of the top-label confidence, as the ``ece`` metric):
  ``sum_bins |sum_i w_i (correct_i - confidence_i) [i in bin]| / n``, from each
  member's bin index and per-example gap (no member x bin x example array);
- balanced accuracy: ``mean_c hits_c / support_c`` over the classes present in
  the resample, from per-class sums of the counts.

ROC AUC is a weighted Mann-Whitney statistic of the counts
(:func:`auc_replicates`). Any other metric (PR-AUC, plugin metrics) is
recomputed with its own function on each resample (:func:`generic_replicates`,
within a call budget per prediction set). Both use at most
:data:`GENERIC_REPLICATES` replicates. Memory is bounded by one chunk of
counts, never by the number of replicates times the examples.
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
    "replicate_values",
]

GENERIC_REPLICATES = 200
GENERIC_CALL_BUDGET = 400_000  # metric-function calls per prediction set for metrics without a recipe
ECE_BINS = 10  # the built-in ``ece`` metric's bins
_MAX_ELEMENTS = 10_000_000  # example counts per chunk of replicates (as member_mean_replicates)


@dataclass(frozen=True)
class Recipe:
    """A metric's member values under example counts ``w`` ``(b, n)`` -> ``(b, M)``."""

    replicate: Callable[[np.ndarray], np.ndarray]
    n: int
    additive: bool
    rows: np.ndarray | None = None  # (M, n) per-example values of an additive metric

    def values(self) -> np.ndarray:
        """Member values on the examples as they are (every count 1)."""
        return self.replicate(np.ones((1, self.n)))[0]


def _grouped(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order that sorts ``keys`` and the start of each run of equal keys in that order."""
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    return order, np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]])) if k.size else np.zeros(0, np.int64)


def _ece_recipe(ps: PredictionSet, cols: np.ndarray | None) -> Recipe | None:
    probs = np.asarray(ps.outputs if cols is None else ps.outputs[:, cols], dtype=np.float64)
    if probs.ndim != 3 or not np.isfinite(probs).all():
        return None
    target = np.asarray(ps.target if cols is None else ps.target[cols]).astype(np.int64)
    m, n, _ = probs.shape
    conf = probs.max(axis=-1)
    gap = (probs.argmax(axis=-1) == target[None, :]) - conf  # (M, n)
    edges = np.arange(ECE_BINS + 1, dtype=np.float64) / ECE_BINS
    bins = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, ECE_BINS - 1)
    groups = [_grouped(bins[j]) for j in range(m)]
    del probs

    def replicate(w: np.ndarray) -> np.ndarray:
        out = np.empty((w.shape[0], m))
        for j, (order, starts) in enumerate(groups):
            sums = np.add.reduceat(w[:, order] * gap[j, order], starts, axis=1) if n else np.zeros((w.shape[0], 0))
            out[:, j] = np.abs(sums).sum(axis=1) / n
        return out

    return Recipe(replicate, n, False)


def _balanced_recipe(ps: PredictionSet, cols: np.ndarray | None) -> Recipe | None:
    probs = np.asarray(ps.outputs if cols is None else ps.outputs[:, cols], dtype=np.float64)
    if probs.ndim != 3 or not np.isfinite(probs).all():
        return None
    target = np.asarray(ps.target if cols is None else ps.target[cols]).astype(np.int64)
    m, n, _ = probs.shape
    correct = (probs.argmax(axis=-1) == target[None, :]).astype(np.float64)
    order, starts = _grouped(target)
    hit = correct[:, order]
    del probs

    def replicate(w: np.ndarray) -> np.ndarray:
        ws = w[:, order]
        support = np.add.reduceat(ws, starts, axis=1)  # (b, classes in the data)
        present = support > 0
        out = np.empty((w.shape[0], m))
        for j in range(m):
            hits = np.add.reduceat(ws * hit[j], starts, axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                recall = np.where(present, hits / np.where(present, support, 1.0), 0.0)
            out[:, j] = recall.sum(axis=1) / np.maximum(present.sum(axis=1), 1)
        return out

    return Recipe(replicate, n, False)


def recipe(ps: PredictionSet, metric: str, cols: np.ndarray | None = None) -> Recipe | None:
    """The :class:`Recipe` of ``metric`` on the examples ``cols`` of ``ps``; None without one."""
    if metric == "ece" and ps.is_classification:
        return _ece_recipe(ps, cols)
    if metric == "balanced_accuracy" and ps.is_classification:
        return _balanced_recipe(ps, cols)
    x = per_example(ps, metric)
    if x is None:
        return None
    rows = np.ascontiguousarray(x if cols is None else x[:, cols])
    xt = np.ascontiguousarray(rows.T)
    n = rows.shape[1]
    return Recipe(lambda w: (w @ xt) / n, n, True, rows)


def replicate_values(
    recipes: list[Recipe], n: int, n_boot: int, rng: np.random.Generator, strata: np.ndarray | None = None
) -> list[np.ndarray]:
    """``(n_boot, M)`` member values of each recipe on the same example resamples.

    The resamples are those of :func:`uspec_audit.stats.bootstrap.member_mean_replicates`
    with the same generator (identical draws), so replicates can be recomputed later.
    """
    out = [np.empty((n_boot, 0)) for _ in recipes]
    if n == 0 or not recipes:
        return out
    step = max(1, min(500, _MAX_ELEMENTS // n))
    parts: list[list[np.ndarray]] = [[] for _ in recipes]
    for idx in example_index_chunks(n, n_boot, rng, strata, step):
        w = _counts(idx, n)
        for k, r in enumerate(recipes):
            parts[k].append(r.replicate(w))
    return [np.vstack(p) for p in parts]


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
