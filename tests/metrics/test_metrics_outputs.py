"""to_probabilities: logits, probabilities and scores to metric inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax

from uspec_audit.metrics import to_probabilities


def test_softmax_of_logits_is_stable_float64():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 6)).astype(np.float32)
    probs = to_probabilities(logits, "logits", "multiclass")
    assert probs.dtype == np.float64 and probs.shape == (50, 6)
    np.testing.assert_allclose(probs, softmax(logits.astype(np.float64), axis=1), rtol=1e-12)
    big = np.array([[1000.0, 0.0, -1000.0], [-1e308, 0.0, 1e308]])
    out = to_probabilities(big, "logits", "multiclass")
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [[1, 0, 0], [0, 0, 1]])


def test_binary_single_column_logits_and_probabilities():
    x = np.array([-3.0, 0.0, 2.5, 40.0])
    out = to_probabilities(x[:, None], "logits", "binary")
    np.testing.assert_allclose(out[:, 1], expit(x))
    np.testing.assert_allclose(out[:, 0], expit(-x))
    assert out[3, 0] > 0  # no cancellation in 1 - p
    p = np.array([0.1, 0.5, 1.0])
    np.testing.assert_allclose(to_probabilities(p, "probabilities", "binary"), np.stack([1 - p, p], 1))
    two = np.array([[2.0, -1.0]])
    np.testing.assert_allclose(to_probabilities(two, "logits", "binary"), softmax(two, axis=1))


def test_probabilities_renormalised_within_tolerance():
    probs = np.array([[0.2, 0.3, 0.5005], [0.1, 0.1, 0.8]])
    out = to_probabilities(probs, "probabilities", "multiclass")
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(out[0], probs[0] / probs[0].sum())


def test_unnormalised_rows_raise_with_count():
    probs = np.array([[0.2, 0.3, 0.6], [0.1, 0.1, 0.8], [0.5, 0.5, 0.5]])
    with pytest.raises(ValueError, match=r"do not sum to 1.*2 of 3 rows.*logits"):
        to_probabilities(probs, "probabilities", "multiclass")


def test_out_of_range_probabilities_raise():
    with pytest.raises(ValueError, match=r"outside \[0, 1\] in 1 of 2 rows"):
        to_probabilities(np.array([[1.2, -0.2], [0.5, 0.5]]), "probabilities", "binary")


@pytest.mark.parametrize(
    "kind,task", [("logits", "multiclass"), ("probabilities", "binary"), ("scores", "regression")]
)
def test_nonfinite_raise_with_count(kind, task):
    values = np.full((5, 2), 0.5) if task != "regression" else np.zeros(5)
    values[1] = np.nan
    values[3] = np.inf
    with pytest.raises(ValueError, match=r"NaN or infinite values in 2 of 5 rows \(first at row 1\)"):
        to_probabilities(values, kind, task)


def test_scores_for_regression():
    out = to_probabilities(np.arange(4, dtype=np.float32)[:, None], "scores", "regression")
    assert out.dtype == np.float64 and out.shape == (4,)
    with pytest.raises(ValueError, match="one value per example"):
        to_probabilities(np.zeros((4, 2)), "scores", "regression")


@pytest.mark.parametrize(
    "values,kind,task,message",
    [
        (np.zeros((3, 2)), "scores", "multiclass", "is for regression"),
        (np.zeros(3), "logits", "regression", 'declare output = "scores"'),
        (np.zeros((3, 2)), "margins", "binary", "unknown output kind"),
        (np.zeros((3, 2)), "logits", "ranking", "unknown task"),
        (np.zeros((3, 3)), "logits", "binary", "1 or 2 columns"),
        (np.zeros((3, 1)), "logits", "multiclass", "at least 2 columns"),
        (np.zeros(3), "logits", "multiclass", "one column per class"),
        (np.zeros((3, 2, 2)), "logits", "multiclass", "2-D"),
    ],
)
def test_invalid_requests_raise(values, kind, task, message):
    with pytest.raises(ValueError, match=message):
        to_probabilities(values, kind, task)


def test_empty_outputs():
    assert to_probabilities(np.zeros((0, 3)), "logits", "multiclass").shape == (0, 3)
    assert to_probabilities(np.zeros((0, 1)), "probabilities", "binary").shape == (0, 2)
