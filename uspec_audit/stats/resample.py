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
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats.bootstrap import count_blocks, example_index_chunks
from uspec_audit.stats.examples import per_example

__all__ = [
    "ECE_BINS",
    "AucResampler",
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
    """A metric's member values under example counts ``w`` ``(b, n)``: ``finish(w @ matrix / n)`` -> ``(b, M)``.

    ``matrix`` ``(n, R)`` is dense for additive metrics (``finish`` the identity,
    R = M) and a sparse matrix for ECE and balanced accuracy (one non-zero per
    example and member), so no member x bin x example array is ever built.
    """

    matrix: np.ndarray | sparse.csr_array
    finish: Callable[[np.ndarray], np.ndarray]
    n: int
    additive: bool
    rows: np.ndarray | None = None  # (M, n) per-example values of an additive metric

    def replicate(self, w: np.ndarray) -> np.ndarray:
        """Member values under the counts ``w`` ``(b, n)``."""
        if sparse.issparse(self.matrix):
            sums = np.asarray((self.matrix.T @ w.T).T)
        else:
            sums = w @ self.matrix
        return self.finish(sums / self.n)

    def values(self) -> np.ndarray:
        """Member values on the examples as they are (every count 1)."""
        return self.replicate(np.ones((1, self.n)))[0]


def _identity(a: np.ndarray) -> np.ndarray:
    return a


def _one_per_example(values: np.ndarray, column: np.ndarray, width: int) -> sparse.csr_array:
    """Sparse ``(n, width)``: row i holds ``values[m, i]`` in column ``column[m, i]`` for every member m."""
    m, n = values.shape
    rows = np.tile(np.arange(n), m)
    return sparse.csr_array((values.ravel(), (rows, column.ravel())), shape=(n, width))


def _ece_recipe(ps: PredictionSet, cols: np.ndarray | None) -> Recipe | None:
    probs = np.asarray(ps.outputs if cols is None else ps.outputs[:, cols], dtype=np.float64)
    if probs.ndim != 3 or not np.isfinite(probs).all():
        return None
    target = np.asarray(ps.target if cols is None else ps.target[cols]).astype(np.int64)
    m, n, _ = probs.shape
    conf = probs.max(axis=-1)
    gap = (probs.argmax(axis=-1) == target[None, :]) - conf  # (M, n): correct - confidence
    edges = np.arange(ECE_BINS + 1, dtype=np.float64) / ECE_BINS
    bins = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, ECE_BINS - 1)
    matrix = _one_per_example(gap, np.arange(m)[:, None] * ECE_BINS + bins, m * ECE_BINS)

    def finish(means: np.ndarray) -> np.ndarray:  # per member: sum over bins of |mean gap in the bin|
        return np.abs(means.reshape(means.shape[0], m, ECE_BINS)).sum(axis=-1)

    return Recipe(matrix, finish, n, False)


def _balanced_recipe(ps: PredictionSet, cols: np.ndarray | None) -> Recipe | None:
    probs = np.asarray(ps.outputs if cols is None else ps.outputs[:, cols], dtype=np.float64)
    if probs.ndim != 3 or not np.isfinite(probs).all():
        return None
    target = np.asarray(ps.target if cols is None else ps.target[cols]).astype(np.int64)
    m, n, k = probs.shape
    correct = (probs.argmax(axis=-1) == target[None, :]).astype(np.float64)
    hits = _one_per_example(correct, np.arange(m)[:, None] * k + target[None, :], m * k)
    support = sparse.csr_array((np.ones(n), (np.arange(n), target)), shape=(n, k))
    matrix = sparse.hstack([hits, support], format="csr")

    def finish(means: np.ndarray) -> np.ndarray:  # mean recall over the classes present in the resample
        h = means[:, : m * k].reshape(means.shape[0], m, k)
        s = means[:, m * k :][:, None, :]
        present = s > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = np.where(present, h / np.where(present, s, 1.0), 0.0)
        return recall.sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)

    return Recipe(matrix, finish, n, False)


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
    return Recipe(np.ascontiguousarray(rows.T), _identity, rows.shape[1], True, rows)


def replicate_values(
    recipes: list[Recipe], n: int, n_boot: int, rng: np.random.Generator, strata: np.ndarray | None = None
) -> list[np.ndarray]:
    """``(n_boot, M)`` member values of each recipe on the same example resamples.

    The resamples are those of :func:`uspec_audit.stats.bootstrap.member_mean_replicates`
    with the same generator (identical draws), so replicates can be recomputed
    later. The dense (additive) recipes share one matrix product per chunk.
    """
    if n == 0 or not recipes:
        return [np.empty((n_boot, 0)) for _ in recipes]
    dense = [k for k, r in enumerate(recipes) if not sparse.issparse(r.matrix)]
    stacked = np.hstack([recipes[k].matrix for k in dense]) if dense else None
    widths = np.cumsum([0] + [recipes[k].matrix.shape[1] for k in dense])
    step = max(1, min(500, _MAX_ELEMENTS // n))
    parts: list[list[np.ndarray]] = [[] for _ in recipes]
    for idx in example_index_chunks(n, n_boot, rng, strata, step):
        for _, w in count_blocks(idx, n):
            if stacked is not None:
                sums = (w @ stacked) / n
                for j, k in enumerate(dense):
                    parts[k].append(recipes[k].finish(sums[:, widths[j] : widths[j + 1]]))
            for k, r in enumerate(recipes):
                if k not in dense:
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


class _AucProblem:
    """One (member, one-vs-rest class) AUC under example weights, with everything that does not depend on the
    weights computed once: the negatives in score order, and for each positive how many negatives score below
    it and how many at most as high (ties count one half)."""

    def __init__(self, scores: np.ndarray, positive: np.ndarray):
        self.pos = np.flatnonzero(positive)
        neg = np.flatnonzero(~positive)
        order = np.argsort(scores[neg], kind="stable")
        self.neg = neg[order]
        sorted_neg = scores[self.neg]
        self.below = np.searchsorted(sorted_neg, scores[self.pos], side="left")
        self.at_most = np.searchsorted(sorted_neg, scores[self.pos], side="right")

    def under(self, weights: np.ndarray, positive_weights: np.ndarray) -> np.ndarray:
        """AUC under each row of ``weights`` ``(b, n)``; ``positive_weights`` is ``weights[:, self.pos]``.

        Weights are resample counts (int32): every sum is an exact integer (products in int64), so the result
        does not depend on the order of summation, and integers move half the bytes of float64."""
        b = weights.shape[0]
        cumulative = np.zeros((b, self.neg.size + 1), dtype=weights.dtype)
        np.cumsum(weights[:, self.neg], axis=1, out=cumulative[:, 1:])
        # below + half the ties = (negatives below + negatives at most as high) / 2
        credit = np.take(cumulative, self.below, axis=1)
        credit += np.take(cumulative, self.at_most, axis=1)
        num = 0.5 * np.einsum("ij,ij->i", positive_weights, credit, dtype=np.int64).astype(np.float64)
        den = positive_weights.sum(axis=1, dtype=np.int64).astype(np.float64) * cumulative[:, -1].astype(
            np.float64
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / den, np.nan)


class AucResampler:
    """ROC AUC of every member, plain and on example resamples, as the ``auc`` metric defines it.

    Binary: the positive-class probability; multiclass: the one-vs-rest mean
    over the classes with positives and negatives in the resample. The sort of
    each (member, class) is done once, for the plain value and every chunk of
    resamples.
    """

    def __init__(self, ps: PredictionSet, cols: np.ndarray | None):
        probs = np.asarray(ps.outputs if cols is None else ps.outputs[:, cols], dtype=np.float64)
        target = np.asarray(ps.target if cols is None else ps.target[cols]).astype(np.int64)
        m, self.n, k = probs.shape
        classes = [(1, target == 1)] if ps.task == "binary" else [(c, target == c) for c in range(k)]
        self.problems = [[_AucProblem(probs[j, :, c], positive) for c, positive in classes] for j in range(m)]

    def plain(self) -> np.ndarray:
        """``(M,)`` AUC on the examples as they are."""
        return self._under([np.ones((1, self.n), dtype=np.int32)])[0]

    def replicates(
        self, n_boot: int, rng: np.random.Generator, strata: np.ndarray | None = None
    ) -> np.ndarray:
        """``(n_boot, M)`` AUC on the example resamples of ``rng`` (those of :func:`example_index_chunks`)."""
        return self._under(
            w
            for i in example_index_chunks(self.n, n_boot, rng, strata, 100)
            for _, w in count_blocks(i, self.n, np.int32)
        )

    def _under(self, chunks: Iterable[np.ndarray]) -> np.ndarray:
        """``(rows, M)`` AUC under each row of example counts of every chunk, in order."""
        out = []
        for w in chunks:
            positive_weights = (
                [w[:, problem.pos] for problem in self.problems[0]] if self.problems else []
            )  # the same for every member
            per = np.stack(
                [
                    np.stack(
                        [problem.under(w, pw) for problem, pw in zip(row, positive_weights, strict=True)],
                        axis=-1,
                    )
                    for row in self.problems
                ],
                axis=1,
            )  # (b, M, problems)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out.append(np.nanmean(per, axis=-1))
        return np.vstack(out)


def auc_replicates(
    ps: PredictionSet,
    cols: np.ndarray | None,
    n_boot: int,
    rng: np.random.Generator | None,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """``(n_boot, M)`` ROC AUC of every member on example resamples (:class:`AucResampler`); with ``rng = None``
    one "replicate" with every example once (the plain AUC)."""
    resampler = AucResampler(ps, cols)
    return resampler.plain()[None, :] if rng is None else resampler.replicates(n_boot, rng, strata)
