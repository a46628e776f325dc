import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from uspec_audit.stats.permutation import (
    strata_shuffle,
    systematic_variation,
    systematic_variation_null_binary,
)
from uspec_audit.stats.seeding import rng_for


def _exact_systematic_p(c: np.ndarray) -> float:
    """Enumerate every combination of column permutations (tiny matrices only)."""
    m, n = c.shape
    perms = list(itertools.permutations(range(m)))
    t_obs = np.var(c.mean(axis=1), ddof=1)
    count = total = 0
    for combo in itertools.product(perms, repeat=n):
        x = np.column_stack([c[list(p), j] for j, p in enumerate(combo)])
        count += np.var(x.mean(axis=1), ddof=1) >= t_obs - 1e-12
        total += 1
    return count / total


def test_identical_members_give_p_one():
    row = np.random.default_rng(0).random(500) < 0.7
    c = np.tile(row, (10, 1))
    res = systematic_variation(c, 2000, rng_for(0, "t"))
    assert res.statistic == 0.0 and res.p_value == 1.0


def test_member_wrong_on_a_block_gives_minimal_p():
    rng = np.random.default_rng(1)
    c = rng.random((10, 2000)) < 0.8
    c[0, :400] = False  # member 0 always wrong on a block of examples
    p = 5000
    res = systematic_variation(c, p, rng_for(0, "t"))
    assert res.p_value == pytest.approx(1 / (p + 1))


def test_binary_sampler_matches_exact_enumeration():
    c = np.array([[1, 1, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1]], dtype=bool)
    exact = _exact_systematic_p(c)
    res = systematic_variation(c, 40000, rng_for(2, "t"))
    assert abs(res.p_value - exact) < 0.01


def test_real_valued_fallback_matches_exact_enumeration():
    c = np.array([[0.1, 2.0, 0.5], [0.3, 0.0, 0.5], [1.5, 0.4, 0.9]])
    exact = _exact_systematic_p(c)
    res = systematic_variation(c, 40000, rng_for(3, "t"))
    assert abs(res.p_value - exact) < 0.01


def test_binary_null_distribution_matches_brute_force_permutation():
    rng = np.random.default_rng(4)
    c = rng.random((6, 40)) < 0.6
    fast = systematic_variation_null_binary(c.sum(axis=0), 6, 20000, rng_for(4, "fast"))
    g = rng_for(4, "slow")
    slow = np.array([g.permuted(c, axis=0).sum(axis=1) for _ in range(20000)])
    # column sums are preserved exactly; row-sum variance distribution agrees (two-sample KS)
    assert (fast.sum(axis=1) == c.sum()).all()
    ks = sps.ks_2samp(np.var(fast, axis=1), np.var(slow, axis=1))
    assert ks.pvalue > 0.001
    np.testing.assert_allclose(fast.mean(axis=0), slow.mean(axis=0), atol=0.1)


def test_strata_shuffle_matches_exact_enumeration():
    rng = np.random.default_rng(5)
    c = rng.random((4, 10)) < 0.5
    c[:2, :4] = True
    c[2:, :4] = False  # stratum = first 4 examples: members split systematically
    mask = np.zeros(10, dtype=bool)
    mask[:4] = True
    x = c.astype(float)
    t_obs = np.var(x[:, mask].mean(axis=1), ddof=1)
    null = [np.var(x[:, list(s)].mean(axis=1), ddof=1) for s in itertools.combinations(range(10), 4)]
    exact = np.mean(np.array(null) >= t_obs - 1e-12)
    res = strata_shuffle(c, mask, 40000, rng_for(5, "t"))
    assert abs(res.p_value - exact) < 0.01


def test_strata_shuffle_large_subsets_and_real_values():
    rng = np.random.default_rng(6)
    x = rng.random((5, 12))
    mask = np.zeros(12, dtype=bool)
    mask[:9] = True  # complement path
    t_obs = np.var(x[:, mask].mean(axis=1), ddof=1)
    null = [np.var(x[:, list(s)].mean(axis=1), ddof=1) for s in itertools.combinations(range(12), 9)]
    exact = np.mean(np.array(null) >= t_obs - 1e-12)
    res = strata_shuffle(x, mask, 40000, rng_for(6, "t"))
    assert abs(res.p_value - exact) < 0.01
    whole = strata_shuffle(x, np.ones(12, dtype=bool), 100, rng_for(6, "t"))
    assert whole.p_value == 1.0


def test_degenerate():
    assert np.isnan(systematic_variation(np.ones((1, 5), dtype=bool), 100, rng_for(0, "t")).p_value)
    assert np.isnan(
        strata_shuffle(np.ones((3, 5), dtype=bool), np.zeros(5, dtype=bool), 10, rng_for(0, "t")).p_value
    )


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.randoms())
def test_statistic_invariant_to_member_and_example_order(seed, rnd):
    rng = np.random.default_rng(seed)
    c = rng.random((6, 30)) < 0.7
    pm, pe = list(range(6)), list(range(30))
    rnd.shuffle(pm)
    rnd.shuffle(pe)
    a = systematic_variation(c, 0, rng_for(0, "t"))
    b = systematic_variation(c[pm][:, pe], 0, rng_for(0, "t"))
    assert a.statistic == pytest.approx(b.statistic)
    # the null only depends on the column sums: same seed, permuted examples -> same p
    pa = systematic_variation(c, 500, rng_for(1, "t")).p_value
    pb = systematic_variation(c[:, pe], 500, rng_for(1, "t")).p_value
    assert pa == pb
