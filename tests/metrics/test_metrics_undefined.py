"""Undefined metrics return NaN; impossible inputs raise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from uspec_audit.metrics import (
    BUILTIN_METRICS,
    auc,
    mse,
    nmse,
    norm_pr_auc,
    pr_auc,
    reliability_curve,
)

CLASSIFICATION = [s for s in BUILTIN_METRICS if "multiclass" in s.tasks]
REGRESSION = [s for s in BUILTIN_METRICS if "regression" in s.tasks]


@pytest.mark.parametrize("spec", CLASSIFICATION, ids=lambda s: s.name)
@pytest.mark.parametrize("task", ["multiclass", "binary"])
def test_empty_classification_is_nan(spec, task):
    k = 2 if task == "binary" else 4
    assert math.isnan(spec.fn(np.zeros(0, dtype=np.int64), np.zeros((0, k)), task))


@pytest.mark.parametrize("spec", CLASSIFICATION, ids=lambda s: s.name)
def test_nonfinite_probabilities_are_nan(spec):
    probs = np.array([[0.2, 0.8], [np.nan, np.nan], [0.6, 0.4]])
    assert math.isnan(spec.fn(np.array([1, 0, 0]), probs, "binary"))


@pytest.mark.parametrize("spec", REGRESSION, ids=lambda s: s.name)
def test_empty_or_nonfinite_regression_is_nan(spec):
    assert math.isnan(spec.fn(np.zeros(0), np.zeros(0), "regression"))
    assert math.isnan(spec.fn(np.array([1.0, np.inf]), np.array([1.0, 2.0]), "regression"))


@pytest.mark.parametrize("fn", [auc, pr_auc, norm_pr_auc])
def test_ranking_metrics_single_class(fn):
    probs = np.array([[0.3, 0.7], [0.6, 0.4], [0.1, 0.9]])
    assert math.isnan(fn(np.zeros(3, dtype=int), probs, "binary"))  # no positives
    mc = np.full((3, 3), 1.0 / 3.0)
    assert math.isnan(fn(np.full(3, 2), mc, "multiclass"))  # one class present


def test_all_positive_binary():
    probs = np.array([[0.3, 0.7], [0.6, 0.4]])
    y = np.ones(2, dtype=int)
    assert math.isnan(auc(y, probs, "binary"))
    assert math.isnan(pr_auc(y, probs, "binary"))  # trivially 1 without negatives: left undefined
    assert math.isnan(norm_pr_auc(y, probs, "binary"))  # prevalence 1: nothing to normalize by


def test_nmse_constant_target_is_nan():
    assert math.isnan(nmse(np.full(5, 0.1), np.arange(5.0), "regression"))
    assert mse(np.full(5, 0.1), np.full(5, 0.1), "regression") == 0.0


def test_reliability_curve_empty():
    lower, upper, conf, acc, count = reliability_curve(np.zeros(0, dtype=int), np.zeros((0, 3)), n_bins=4)
    assert count.tolist() == [0, 0, 0, 0]
    assert np.isnan(conf).all() and np.isnan(acc).all()
    assert lower.tolist() == [0.0, 0.25, 0.5, 0.75] and upper.tolist() == [0.25, 0.5, 0.75, 1.0]


def test_impossible_inputs_raise():
    probs = np.full((3, 2), 0.5)
    with pytest.raises(ValueError, match="3 rows"):
        auc(np.zeros(4, dtype=int), probs, "binary")
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        auc(np.array([0, 1, 2]), probs, "binary")
    with pytest.raises(ValueError, match="integer class labels"):
        auc(np.array([0.0, 0.5, 1.0]), probs, "binary")
    with pytest.raises(ValueError):
        mse(np.zeros(3), np.zeros(4), "regression")
    with pytest.raises(ValueError, match="n_bins"):
        reliability_curve(np.zeros(3, dtype=int), probs, n_bins=0)
