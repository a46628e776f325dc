"""Classification metrics against scikit-learn on seeded random data, ties included."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
    top_k_accuracy_score,
)

from uspec_audit.metrics import (
    accuracy,
    auc,
    balanced_accuracy,
    brier,
    nll,
    norm_pr_auc,
    pr_auc,
    top5_accuracy,
    top_k_accuracy,
)

SEEDS = [0, 1, 2, 3]


def continuous_multiclass(seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Dirichlet probabilities, labels correlated with them; every class present."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(k), size=n)
    labels = np.array([rng.choice(k, p=0.5 * row + 0.5 / k) for row in probs])
    labels[:k] = np.arange(k)
    return labels, probs


def tied_multiclass(seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities from small integer counts: many exact ties across and within rows."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 4, size=(n, k)).astype(np.float64)
    probs = counts / counts.sum(axis=1, keepdims=True)
    labels = np.where(rng.random(n) < 0.5, np.argmax(counts, axis=1), rng.integers(0, k, n))
    labels[:k] = np.arange(k)
    return labels, probs


def tied_binary(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Positive-class probabilities on a grid of 11 values, labels correlated with them."""
    rng = np.random.default_rng(seed)
    p1 = rng.integers(0, 11, size=n) / 10.0
    labels = (rng.random(n) < 0.2 + 0.6 * p1).astype(np.int64)
    labels[:2] = [0, 1]
    return labels, np.stack([1.0 - p1, p1], axis=1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [3, 7, 10])
def test_accuracy_matches_sklearn(seed, k):
    for y, p in (continuous_multiclass(seed, 200, k), tied_multiclass(seed, 200, k)):
        assert accuracy(y, p, "multiclass") == pytest.approx(accuracy_score(y, np.argmax(p, axis=1)))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [7, 10, 20])
def test_top5_matches_sklearn(seed, k):
    y, p = continuous_multiclass(seed, 300, k)
    expected = top_k_accuracy_score(y, p, k=5, labels=np.arange(k))
    assert top5_accuracy(y, p, "multiclass") == pytest.approx(expected)


def test_top_k_ties_and_small_k():
    y, p = tied_multiclass(5, 300, 6)
    assert top_k_accuracy(y, p, "multiclass", k=1) == accuracy(y, p, "multiclass")
    assert top5_accuracy(*continuous_multiclass(0, 50, 5), "multiclass") == 1.0
    assert top5_accuracy(*tied_binary(0, 50), "binary") == 1.0
    # true class tied with a lower-index class for 2nd place: rank 2 -> miss at k=2, hit at k=3
    probs = np.array([[0.4, 0.2, 0.2, 0.1, 0.1]])
    assert top_k_accuracy([2], probs, k=2) == 0.0
    assert top_k_accuracy([1], probs, k=2) == 1.0
    assert top_k_accuracy([2], probs, k=3) == 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_balanced_accuracy_matches_sklearn(seed):
    y, p = tied_multiclass(seed, 150, 5)
    assert balanced_accuracy(y, p, "multiclass") == pytest.approx(
        balanced_accuracy_score(y, np.argmax(p, axis=1))
    )
    # a class absent from the target (but predicted) is left out of the mean, as in sklearn
    y = np.where(y == 4, 0, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = balanced_accuracy_score(y, np.argmax(p, axis=1))
    assert balanced_accuracy(y, p, "multiclass") == pytest.approx(expected)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [20, 300])
def test_binary_auc_and_ap_match_sklearn_with_ties(seed, n):
    y, p = tied_binary(seed, n)
    assert auc(y, p, "binary") == pytest.approx(roc_auc_score(y, p[:, 1]), abs=1e-12)
    assert pr_auc(y, p, "binary") == pytest.approx(average_precision_score(y, p[:, 1]), abs=1e-12)
    rng = np.random.default_rng(seed)
    p1 = rng.random(n)
    p = np.stack([1.0 - p1, p1], axis=1)
    assert auc(y, p, "binary") == pytest.approx(roc_auc_score(y, p1), abs=1e-12)
    assert pr_auc(y, p, "binary") == pytest.approx(average_precision_score(y, p1), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [3, 6])
def test_multiclass_auc_matches_sklearn_ovr_macro(seed, k):
    for y, p in (continuous_multiclass(seed, 200, k), tied_multiclass(seed, 200, k)):
        expected = roc_auc_score(y, p, multi_class="ovr", average="macro")
        assert auc(y, p, "multiclass") == pytest.approx(expected, abs=1e-12)


def test_multiclass_auc_skips_absent_classes():
    y, p = tied_multiclass(7, 200, 4)
    y = np.where(y == 2, 0, y)
    expected = np.mean([roc_auc_score(y == c, p[:, c]) for c in (0, 1, 3)])
    assert auc(y, p, "multiclass") == pytest.approx(expected, abs=1e-12)
    expected_ap = np.mean([average_precision_score(y == c, p[:, c]) for c in (0, 1, 3)])
    assert pr_auc(y, p, "multiclass") == pytest.approx(expected_ap, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [3, 6])
def test_multiclass_ap_and_normalized_ap(seed, k):
    for y, p in (continuous_multiclass(seed, 200, k), tied_multiclass(seed, 200, k)):
        per_class = np.array([average_precision_score(y == c, p[:, c]) for c in range(k)])
        assert pr_auc(y, p, "multiclass") == pytest.approx(per_class.mean(), abs=1e-12)
        prevalence = np.bincount(y, minlength=k) / y.size
        normalized = (per_class - prevalence) / (1.0 - prevalence)
        assert norm_pr_auc(y, p, "multiclass") == pytest.approx(normalized.mean(), abs=1e-12)


def test_norm_pr_auc_binary_anchors():
    y, p = tied_binary(3, 400)
    pi = y.mean()
    expected = (average_precision_score(y, p[:, 1]) - pi) / (1 - pi)
    assert norm_pr_auc(y, p, "binary") == pytest.approx(expected, abs=1e-12)
    # a perfect ranking scores 1; a constant score (AP = prevalence) scores 0
    assert norm_pr_auc(y, np.stack([1.0 - y, y], 1).astype(float), "binary") == pytest.approx(1.0)
    assert norm_pr_auc(y, np.full((y.size, 2), 0.5), "binary") == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_nll_matches_sklearn(seed):
    y, p = continuous_multiclass(seed, 200, 5)
    assert nll(y, p, "multiclass") == pytest.approx(log_loss(y, p, labels=np.arange(5)), rel=1e-10)
    yb, pb = continuous_multiclass(seed, 200, 2)
    assert nll(yb, pb, "binary") == pytest.approx(log_loss(yb, pb[:, 1]), rel=1e-10)


def test_nll_clips_zero_probability():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert nll([1, 0], probs, "binary") == pytest.approx((-np.log(1e-15) - np.log(0.5)) / 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_brier_matches_sklearn(seed):
    y, p = continuous_multiclass(seed, 200, 4)
    assert brier(y, p, "multiclass") == pytest.approx(brier_score_loss(y, p, labels=np.arange(4)))
    yb, pb = tied_binary(seed, 200)
    # our binary Brier sums over both classes: twice sklearn's mean((p1 - y)^2)
    assert brier(yb, pb, "binary") == pytest.approx(2.0 * brier_score_loss(yb, pb[:, 1]))


def test_integral_float_labels_accepted():
    y, p = continuous_multiclass(0, 50, 3)
    assert accuracy(y.astype(float), p, "multiclass") == accuracy(y, p, "multiclass")


def test_one_column_binary_prediction_is_positive_probability():
    y, p = tied_binary(0, 100)
    assert auc(y, p[:, 1], "binary") == auc(y, p, "binary")
