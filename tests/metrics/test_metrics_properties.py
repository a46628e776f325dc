"""Hypothesis properties: order invariance of every metric; rank metrics invariant to monotone maps."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from uspec_audit.metrics import BUILTIN_METRICS, auc, pr_auc

SETTINGS = settings(max_examples=60, deadline=None)


def same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or bool(np.isclose(a, b, rtol=1e-12, atol=1e-12))


@st.composite
def classification_data(draw):
    task = draw(st.sampled_from(["binary", "multiclass"]))
    k = 2 if task == "binary" else draw(st.integers(3, 7))
    n = draw(st.integers(1, 40))
    labels = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    # small integer counts: exact ties within and across rows
    counts = np.array(draw(st.lists(st.integers(1, 4), min_size=n * k, max_size=n * k)), dtype=float)
    counts = counts.reshape(n, k)
    probs = counts / counts.sum(axis=1, keepdims=True)
    perm = np.array(draw(st.permutations(range(n))))
    return task, labels, probs, perm


@SETTINGS
@given(classification_data())
def test_classification_metrics_invariant_to_example_order(data):
    task, labels, probs, perm = data
    for spec in BUILTIN_METRICS:
        if task in spec.tasks:
            assert same(spec.fn(labels, probs, task), spec.fn(labels[perm], probs[perm], task)), spec.name


@SETTINGS
@given(
    st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=1, max_size=50),
    st.randoms(use_true_random=False),
)
def test_regression_metrics_invariant_to_example_order(pairs, random):
    y, p = (np.array(v, dtype=float) for v in zip(*pairs, strict=True))
    perm = list(range(len(y)))
    random.shuffle(perm)
    for spec in BUILTIN_METRICS:
        if "regression" in spec.tasks:
            assert same(spec.fn(y, p, "regression"), spec.fn(y[perm], p[perm], "regression")), spec.name


MONOTONE = [np.square, np.sqrt, lambda x: (np.exp(3 * x) - 1) / (np.exp(3) - 1)]


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 20)), min_size=1, max_size=60),
    st.sampled_from(range(len(MONOTONE))),
)
def test_rank_metrics_invariant_to_monotone_maps(pairs, which):
    labels = np.array([a for a, _ in pairs])
    p1 = np.array([b for _, b in pairs]) / 20.0  # grid of 21 values: ties
    q1 = MONOTONE[which](p1)
    p = np.stack([1 - p1, p1], axis=1)
    q = np.stack([1 - q1, q1], axis=1)
    assert same(auc(labels, p, "binary"), auc(labels, q, "binary"))
    assert same(pr_auc(labels, p, "binary"), pr_auc(labels, q, "binary"))


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 20)), min_size=2, max_size=60))
def test_auc_antisymmetric_under_reversal(pairs):
    labels = np.array([a for a, _ in pairs])
    p1 = np.array([b for _, b in pairs]) / 20.0
    forward = auc(labels, np.stack([1 - p1, p1], 1), "binary")
    backward = auc(labels, np.stack([p1, 1 - p1], 1), "binary")
    if not np.isnan(forward):
        assert np.isclose(forward + backward, 1.0)
