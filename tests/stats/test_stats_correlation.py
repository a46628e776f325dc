import itertools

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from uspec_audit.stats.correlation import correlate, rowwise_spearman, spearman_matrix
from uspec_audit.stats.seeding import rng_for


def test_rho_and_r_match_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20)
    y = 0.5 * x + rng.normal(size=20)
    y[3] = y[4]  # a tie
    res = correlate(x, y)
    assert np.isclose(res.spearman, sps.spearmanr(x, y).statistic)
    assert np.isclose(res.pearson, sps.pearsonr(x, y).statistic)
    assert np.isclose(res.pearson_p, sps.pearsonr(x, y).pvalue)


def test_rowwise_spearman_with_ties_matches_scipy():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=(30, 8)).astype(float)
    y = rng.integers(0, 4, size=(30, 8)).astype(float)
    got = rowwise_spearman(x, y)
    for i in range(30):
        if np.ptp(x[i]) and np.ptp(y[i]):
            assert np.isclose(got[i], sps.spearmanr(x[i], y[i]).statistic)
        else:
            assert np.isnan(got[i])


def test_member_bootstrap_ci_matches_scipy_bootstrap():
    rng = np.random.default_rng(2)
    x = rng.normal(size=25)
    y = 0.6 * x + rng.normal(size=25)
    res = correlate(x, y, rng_for(1, "boot"), 4000)

    def rho(a, b, axis=-1):
        return rowwise_spearman(np.atleast_2d(a), np.atleast_2d(b))

    ref = sps.bootstrap(
        (x, y),
        rho,
        paired=True,
        vectorized=True,
        n_resamples=4000,
        method="percentile",
        random_state=np.random.default_rng(3),
    ).confidence_interval
    assert abs(res.spearman_ci_low - ref.low) < 0.06
    assert abs(res.spearman_ci_high - ref.high) < 0.06
    assert res.spearman_ci_low < res.spearman < res.spearman_ci_high


def test_permutation_p_matches_exact_enumeration():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    y = np.array([2.0, 1.0, 4.0, 3.0, 6.0, 5.0])
    rho = sps.spearmanr(x, y).statistic
    null = [sps.spearmanr(x, np.array(p)).statistic for p in itertools.permutations(y)]
    exact = np.mean(np.abs(null) >= abs(rho) - 1e-12)
    res = correlate(x, y, rng_perm=rng_for(0, "perm"), n_perm=20000)
    assert abs(res.spearman_p - exact) < 0.01


def test_degenerate_inputs_are_nan():
    assert np.isnan(correlate([1.0, 2.0], [1.0, 3.0]).spearman)  # fewer than 3 members
    assert np.isnan(correlate([1.0, 2.0, 3.0], [1.0, 1.0, 1.0]).spearman)  # constant
    assert np.isnan(correlate([1.0, np.nan, 3.0, 4.0], [1.0, 2.0, np.nan, 4.0]).pearson)  # 2 complete


def test_spearman_matrix_matches_pandas():
    rng = np.random.default_rng(4)
    v = rng.normal(size=(12, 5))
    df = pd.DataFrame(v)
    np.testing.assert_allclose(spearman_matrix(v), df.corr(method="spearman").to_numpy(), atol=1e-12)
    np.testing.assert_allclose(spearman_matrix(v, "pearson"), df.corr().to_numpy(), atol=1e-12)
    v[0, 1] = np.nan
    df = pd.DataFrame(v)
    np.testing.assert_allclose(spearman_matrix(v), df.corr(method="spearman").to_numpy(), atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.randoms())
def test_invariant_to_member_order(seed, rnd):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=9), rng.normal(size=9)
    perm = list(range(9))
    rnd.shuffle(perm)
    a, b = correlate(x, y), correlate(x[perm], y[perm])
    assert np.isclose(a.spearman, b.spearman) and np.isclose(a.pearson, b.pearson)
