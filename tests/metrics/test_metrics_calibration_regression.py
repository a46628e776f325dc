"""ECE (hand-worked and brute force), reliability curve, and regression metrics vs scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error

from uspec_audit.metrics import ece, expected_calibration_error, mae, mse, nmse, reliability_curve

# five examples, 5 bins [0,.2) [.2,.4) [.4,.6) [.6,.8) [.8,1]
HAND_PROBS = np.array(
    [
        [0.10, 0.90],  # conf .90, correct      -> bin 4
        [0.15, 0.85],  # conf .85, wrong        -> bin 4
        [0.70, 0.30],  # conf .70, correct      -> bin 3
        [0.40, 0.60],  # conf .60 (lower edge), wrong -> bin 3
        [0.50, 0.50],  # conf .50, argmax 0, wrong    -> bin 2
    ]
)
HAND_TARGET = np.array([1, 0, 0, 0, 1])


def test_hand_worked_ece():
    lower, upper, conf, acc, count = reliability_curve(HAND_TARGET, HAND_PROBS, n_bins=5)
    assert count.tolist() == [0, 0, 1, 2, 2]
    np.testing.assert_allclose(conf[2:], [0.5, 0.65, 0.875])
    np.testing.assert_allclose(acc[2:], [0.0, 0.5, 0.5])
    assert np.isnan(conf[:2]).all() and np.isnan(acc[:2]).all()
    # bin 4: 2/5 * |.5 - .875| = .15; bin 3: 2/5 * |.5 - .65| = .06; bin 2: 1/5 * |0 - .5| = .1
    assert expected_calibration_error(HAND_TARGET, HAND_PROBS, n_bins=5) == pytest.approx(0.31)


def test_confidence_one_falls_in_last_bin_and_edges_are_exact():
    probs = np.array([[0.0, 1.0], [0.7, 0.3], [0.3, 0.7]])
    _, _, _, _, count = reliability_curve([1, 0, 0], probs, n_bins=10)
    assert count[9] == 1 and count[7] == 2  # 0.7 is the lower edge of [0.7, 0.8)
    assert ece([1], np.array([[0.0, 1.0]]), "binary") == 0.0


def brute_force_ece(target, probs, n_bins):
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == target
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (conf >= lo) & ((conf < hi) if b < n_bins - 1 else (conf <= hi))
        if inside.any():
            total += inside.sum() / len(target) * abs(correct[inside].mean() - conf[inside].mean())
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_ece_matches_brute_force(seed, n_bins):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(4, 0.5), size=500)
    target = rng.integers(0, 4, size=500)
    assert expected_calibration_error(target, probs, n_bins) == pytest.approx(
        brute_force_ece(target, probs, n_bins), abs=1e-12
    )
    _, _, _, _, count = reliability_curve(target, probs, n_bins)
    assert count.sum() == 500


def test_perfectly_calibrated_in_expectation_has_small_ece():
    rng = np.random.default_rng(0)
    p1 = rng.uniform(0.5, 1.0, size=200_000)
    target = (rng.random(p1.size) < p1).astype(int)
    assert ece(target, np.stack([1 - p1, p1], 1), "binary") < 0.01


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_regression_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=300)
    p = y + rng.normal(scale=0.5, size=300)
    assert mse(y, p, "regression") == pytest.approx(mean_squared_error(y, p))
    assert mae(y, p, "regression") == pytest.approx(mean_absolute_error(y, p))
    assert nmse(y, p, "regression") == pytest.approx(mean_squared_error(y, p) / np.var(y))
    assert nmse(y, np.full_like(y, y.mean()), "regression") == pytest.approx(1.0)
