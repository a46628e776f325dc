import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from threadpoolctl import threadpool_limits

from uspec_audit.stats.disagreement import (
    ambiguity,
    disagreement_matrix,
    discrepancy,
    pairwise_disagreement,
    sensitivity,
    sensitivity_ratio,
    vote_entropy,
)


def test_hand_worked_labels():
    lab = np.array([[0, 1, 2, 0], [0, 1, 1, 1], [0, 2, 2, 1]])
    # pairs (0,1): 2/4, (0,2): 2/4, (1,2): 2/4
    assert pairwise_disagreement(lab) == pytest.approx(0.5)
    # baseline member 0: examples 1,2,3 have some difference
    assert ambiguity(lab, 0) == pytest.approx(0.75)
    assert discrepancy(lab, 0) == pytest.approx(0.5)
    np.testing.assert_allclose(vote_entropy(lab)[0], 0.0)
    np.testing.assert_allclose(vote_entropy(lab)[1], sps.entropy([2, 1]))


def test_against_naive_pairs_and_scipy_entropy():
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 5, size=(7, 200))
    naive = np.mean([np.mean(lab[a] != lab[b]) for a, b in itertools.combinations(range(7), 2)])
    assert pairwise_disagreement(lab) == pytest.approx(naive)
    dm = disagreement_matrix(lab)
    assert dm[2, 5] == pytest.approx(np.mean(lab[2] != lab[5]))
    ent = [sps.entropy(np.bincount(lab[:, i])) for i in range(200)]
    np.testing.assert_allclose(vote_entropy(lab), ent)
    f = rng.normal(size=(7, 50))
    naive_s = np.mean([np.mean((f[a] - f[b]) ** 2) for a, b in itertools.combinations(range(7), 2)])
    assert sensitivity(f) == pytest.approx(naive_s)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.randoms())
def test_invariant_to_member_and_example_order(seed, rnd):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, 3, size=(5, 40))
    pm, pe = list(range(5)), list(range(40))
    rnd.shuffle(pm)
    rnd.shuffle(pe)
    other = lab[pm][:, pe]
    assert pairwise_disagreement(lab) == pytest.approx(pairwise_disagreement(other))
    assert vote_entropy(lab).mean() == pytest.approx(vote_entropy(other).mean())
    f = rng.normal(size=(5, 40))
    assert sensitivity(f) == pytest.approx(sensitivity(f[pm][:, pe]))


def _sphere(rng, k, d, radius):
    z = rng.normal(size=(k, d))
    return radius * z / np.linalg.norm(z, axis=1, keepdims=True)


def _random_feature_ensemble(
    ratio: float, members: int = 8, d: int = 40, n: int = 200, n_test: int = 2000, seed: int = 0
):
    """UP §3.2 / App. E (Fig. 22): min-norm least-squares random-feature regressors.

    x ~ Unif(S^{d-1}(sqrt d)), noiseless linear target y = <beta0, x> with ||beta0|| = 1,
    features relu(W x) with rows of W ~ Unif(S^{d-1}(1)); members differ only in W;
    theta = minimum-norm least-squares solution (ordinary least squares for N < n,
    the min-norm interpolant for N >= n); fresh test points from the training distribution.
    """
    rng = np.random.default_rng(seed)
    beta0 = _sphere(rng, 1, d, 1.0)[0]
    x, x_test = _sphere(rng, n, d, np.sqrt(d)), _sphere(rng, n_test, d, np.sqrt(d))
    y, y_test = x @ beta0, x_test @ beta0
    n_feat = max(1, int(round(ratio * n)))
    preds = []
    for _ in range(members):
        w = _sphere(rng, n_feat, d, 1.0)
        theta = np.linalg.lstsq(np.maximum(x @ w.T, 0.0), y, rcond=None)[0]
        preds.append(np.maximum(x_test @ w.T, 0.0) @ theta)
    return np.array(preds), y_test


@pytest.mark.parametrize("ratio", [0.05, 0.5, 1.0, 1.5])
def test_random_features_sensitivity_ratio(ratio):
    with threadpool_limits(1):
        f, y = _random_feature_ensemble(ratio)
    s, r, s_over_r = sensitivity_ratio(f, y)
    if ratio == 0.05:
        assert s_over_r < 0.6
    else:
        assert 1.7 <= s_over_r <= 2.2
