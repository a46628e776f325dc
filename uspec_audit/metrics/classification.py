"""Per-member classification metrics on class probabilities.

Every metric has the signature ``fn(target, prediction, task) -> float`` of
:class:`uspec_audit.components.MetricSpec`: ``target`` holds integer labels
``(n,)`` and ``prediction`` float64 class probabilities ``(n, K)`` (``K = 2``
for ``binary``). A metric returns NaN when it is undefined on the data: no
examples, non-finite probabilities, or (for the ranking metrics) no class with
both positives and negatives. Everything is vectorized numpy/scipy;
scikit-learn is used only by the tests, which check each metric against it.

The predicted label is the arg-max of the probabilities, the lowest class
index winning ties (``numpy.argmax``).
"""

from __future__ import annotations

import numpy as np

from uspec_audit.metrics._validate import classification_inputs

NLL_CLIP = 1e-15

__all__ = [
    "accuracy",
    "auc",
    "balanced_accuracy",
    "brier",
    "nll",
    "norm_pr_auc",
    "pr_auc",
    "top5_accuracy",
    "top_k_accuracy",
]


def _prepare(target, prediction) -> tuple[np.ndarray, np.ndarray] | None:
    labels, probs = classification_inputs(target, prediction)
    if labels.size == 0 or not np.all(np.isfinite(probs)):
        return None
    return labels, probs


def _nanmean_or_nan(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def accuracy(target, prediction, task: str = "multiclass") -> float:
    """Share of examples whose arg-max class is the true class."""
    prepared = _prepare(target, prediction)
    if prepared is None:
        return float("nan")
    labels, probs = prepared
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def top_k_accuracy(target, prediction, task: str = "multiclass", k: int = 5) -> float:
    """Share of examples whose true class is among the ``k`` most probable classes.

    The rank of the true class counts the classes with a strictly higher
    probability plus the tied classes with a lower index, so ``k = 1`` equals
    :func:`accuracy` exactly. With ``K <= k`` classes every example is a hit
    (the metric is 1.0).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    prepared = _prepare(target, prediction)
    if prepared is None:
        return float("nan")
    labels, probs = prepared
    n, n_classes = probs.shape
    if n_classes <= k:
        return 1.0
    p_true = probs[np.arange(n), labels][:, None]
    higher = np.count_nonzero(probs > p_true, axis=1)
    tied_before = np.count_nonzero(
        (probs == p_true) & (np.arange(n_classes)[None, :] < labels[:, None]), axis=1
    )
    return float(np.mean(higher + tied_before < k))


def top5_accuracy(target, prediction, task: str = "multiclass") -> float:
    """Top-5 accuracy (see :func:`top_k_accuracy`); 1.0 when ``K <= 5``."""
    return top_k_accuracy(target, prediction, task, k=5)


def balanced_accuracy(target, prediction, task: str = "multiclass") -> float:
    """Mean per-class recall of the arg-max prediction over the classes present in ``target``."""
    prepared = _prepare(target, prediction)
    if prepared is None:
        return float("nan")
    labels, probs = prepared
    n_classes = probs.shape[1]
    correct = np.argmax(probs, axis=1) == labels
    support = np.bincount(labels, minlength=n_classes)
    hits = np.bincount(labels, weights=correct.astype(np.float64), minlength=n_classes)
    present = support > 0
    return float(np.mean(hits[present] / support[present]))


# one-vs-rest problems are evaluated a block of columns at a time so that the
# (n, columns) work arrays stay near this many elements (ImageNet-sized inputs
# would otherwise need gigabytes)
_BLOCK_ELEMENTS = 1 << 22


def _one_vs_rest(labels: np.ndarray, probs: np.ndarray, task: str, problem_fn) -> np.ndarray:
    """Apply ``problem_fn(scores, positive)`` to the binary problems to average.

    ``binary``: one problem, class 1 against class 0 scored by ``p[:, 1]``.
    Otherwise one problem per class (one-vs-rest), scored by ``p[:, k]``.
    ``problem_fn`` receives one problem per row: contiguous float64 scores
    ``(C, n)`` and boolean positives ``(C, n)``. Returns one value per
    problem (NaN where undefined).
    """
    if task == "binary":
        return problem_fn(np.ascontiguousarray(probs[:, 1])[None, :], (labels == 1)[None, :])
    n, n_classes = probs.shape
    width = max(1, _BLOCK_ELEMENTS // max(n, 1))
    out = np.empty(n_classes, dtype=np.float64)
    for start in range(0, n_classes, width):
        cols = np.arange(start, min(start + width, n_classes))
        out[cols] = problem_fn(np.ascontiguousarray(probs[:, cols].T), labels[None, :] == cols[:, None])
    return out


def _sort_problems(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort each row by ascending score.

    Returns the sorted scores, the positives in that order, and for every
    position the index where its tie group starts.
    """
    order = np.argsort(scores, axis=1)  # order within a tie group is irrelevant: groups are scored whole
    s_sorted = np.take_along_axis(scores, order, axis=1)
    y_sorted = np.take_along_axis(positive, order, axis=1)
    n = scores.shape[1]
    is_start = np.ones(s_sorted.shape, dtype=bool)
    is_start[:, 1:] = s_sorted[:, 1:] != s_sorted[:, :-1]
    group_start = np.maximum.accumulate(np.where(is_start, np.arange(n), 0), axis=1)
    return s_sorted, y_sorted, group_start


def _roc_auc_problems(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """ROC AUC per row: Mann–Whitney U with average ranks for ties; NaN where undefined."""
    n = scores.shape[1]
    s_sorted, y_sorted, group_start = _sort_problems(scores, positive)
    is_end = np.ones(s_sorted.shape, dtype=bool)
    is_end[:, :-1] = s_sorted[:, 1:] != s_sorted[:, :-1]
    group_end = np.minimum.accumulate(np.where(is_end, np.arange(n), n)[:, ::-1], axis=1)[:, ::-1]
    average_rank = (group_start + group_end) / 2.0 + 1.0
    n_pos = y_sorted.sum(axis=1).astype(np.float64)
    n_neg = n - n_pos
    rank_sum = np.where(y_sorted, average_rank, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc_values = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc_values, np.nan)


def _average_precision_problems(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Average precision per row, scikit-learn's definition.

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds:
    tied scores enter together, so each positive is weighted by the precision
    of the threshold at its tie group, ``(positives scoring >= s) / (examples
    scoring >= s)``. NaN for a row without both positives and negatives
    (scikit-learn gives a trivial 1.0 when every example is positive; we leave
    it undefined, as for ROC AUC, so that it cannot pass for a perfect ranking).
    """
    n = scores.shape[1]
    _, y_sorted, group_start = _sort_problems(scores, positive)
    positives_from = np.cumsum(y_sorted[:, ::-1], axis=1)[:, ::-1]  # positives at index >= i
    precision = np.take_along_axis(positives_from, group_start, axis=1) / (n - group_start)
    n_pos = y_sorted.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ap = np.where(y_sorted, precision, 0.0).sum(axis=1) / n_pos
    return np.where((n_pos > 0) & (n_pos < n), ap, np.nan)


def auc(target, prediction, task: str = "multiclass") -> float:
    """ROC AUC.

    ``binary``: AUC of the positive-class probability, computed as the
    Mann–Whitney U statistic with average ranks for ties (a tied
    positive/negative pair counts one half). ``multiclass``: one-vs-rest
    macro average over the classes that have both positives and negatives in
    ``target``. NaN when no class qualifies (e.g. a single class present).
    """
    prepared = _prepare(target, prediction)
    if prepared is None:
        return float("nan")
    return _nanmean_or_nan(_one_vs_rest(*prepared, task, _roc_auc_problems))


def pr_auc(target, prediction, task: str = "multiclass") -> float:
    """Area under the precision–recall curve as average precision (scikit-learn's definition).

    ``binary``: AP of the positive class; ``multiclass``: one-vs-rest macro
    average over the classes with both positives and negatives in ``target``.
    NaN when no class qualifies (scikit-learn returns 1.0 for an all-positive
    target; we treat it as undefined, like ROC AUC).
    """
    prepared = _prepare(target, prediction)
    if prepared is None:
        return float("nan")
    return _nanmean_or_nan(_one_vs_rest(*prepared, task, _average_precision_problems))


def norm_pr_auc(target, prediction, task: str = "multiclass") -> float:
    """Prevalence-normalized PR-AUC: ``(AP - pi) / (1 - pi)`` per class, then the macro average.

    ``pi`` is the class prevalence, the expected AP of an uninformative
    ranking, so 0 means chance level and 1 a perfect ranking whatever the
    prevalence (negative values are worse than chance). Raw PR-AUC is not
    comparable across test sets whose prevalences differ (Boyd, Costa, Davis
    & Page, 2012, "Unachievable region in precision-recall space and its
    effect on empirical evaluation", ICML). Boyd et al. rescale by the minimum
    achievable AUCPR, ``1 + (1 - pi) ln(1 - pi) / pi``; we rescale by the
    simpler chance baseline ``pi`` instead. ``binary``: the positive class
    only; ``multiclass``: one-vs-rest over the classes with ``0 < pi < 1``.
    """
    prepared = _prepare(target, prediction)
    if prepared is None:
        return float("nan")
    labels, probs = prepared
    ap = _one_vs_rest(labels, probs, task, _average_precision_problems)
    if task == "binary":
        prevalence = np.array([np.mean(labels == 1)])
    else:
        prevalence = np.bincount(labels, minlength=probs.shape[1]) / labels.size
    defined = (prevalence > 0) & (prevalence < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalized = (ap - prevalence) / (1.0 - prevalence)
    return _nanmean_or_nan(np.where(defined, normalized, np.nan))


def nll(target, prediction, task: str = "multiclass") -> float:
    """Mean negative log-likelihood of the true class (natural log).

    Probabilities are clipped to ``[1e-15, 1]`` so a confident mistake costs
    at most ``-ln(1e-15) ~ 34.5`` rather than infinity.
    """
    prepared = _prepare(target, prediction)
    if prepared is None:
        return float("nan")
    labels, probs = prepared
    p_true = np.clip(probs[np.arange(labels.shape[0]), labels], NLL_CLIP, 1.0)
    return float(-np.mean(np.log(p_true)))


def brier(target, prediction, task: str = "multiclass") -> float:
    """Multiclass Brier score: mean over examples of ``sum_k (p_k - y_k)^2``.

    For ``binary`` the sum also runs over both classes, so the score lies in
    ``[0, 2]`` and equals **twice** the usual binary Brier score
    ``mean((p_1 - y)^2)`` (scikit-learn's binary ``brier_score_loss``). One
    definition for every task keeps binary and multiclass values comparable.
    """
    prepared = _prepare(target, prediction)
    if prepared is None:
        return float("nan")
    labels, probs = prepared
    # sum_k (p_k - y_k)^2 = sum_k p_k^2 - 2 p_true + 1, without an (n, K) one-hot matrix
    p_true = probs[np.arange(labels.shape[0]), labels]
    per_example = np.einsum("ij,ij->i", probs, probs) - 2.0 * p_true + 1.0
    return float(np.mean(per_example))
