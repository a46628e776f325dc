import numpy as np
import pytest
from scipy import stats as sps

from uspec_audit.stats.bootstrap import (
    bh,
    bootstrap_difference,
    example_index_chunks,
    member_indices,
    member_mean_replicates,
    multi_bootstrap,
    one_sided_p,
    percentile_ci,
    replicate_mean_sd,
    two_sided_p,
)
from uspec_audit.stats.marginalize import marginalization_curve, smallest_k_beating
from uspec_audit.stats.seeding import rng_for


def test_vectorized_replicates_match_naive_loop():
    rng = np.random.default_rng(0)
    x = (rng.random((5, 80)) < 0.7).astype(float)
    reps = member_mean_replicates(x, 30, rng_for(1, "ex"), chunk=7)
    idx = np.vstack(list(example_index_chunks(80, 30, rng_for(1, "ex"), chunk=7)))
    naive = np.array([[x[m, idx[b]].mean() for m in range(5)] for b in range(30)])
    np.testing.assert_allclose(reps, naive)
    midx = member_indices(5, 30, rng_for(1, "mem"))
    mean, sd = replicate_mean_sd(reps, midx)
    for b in range(30):
        v = naive[b, midx[b]]
        assert mean[b] == pytest.approx(v.mean()) and sd[b] == pytest.approx(np.std(v, ddof=1))


def test_stratified_resampling_keeps_strata():
    strata = np.array(["a"] * 5 + ["b"] * 95)
    for idx in example_index_chunks(100, 50, rng_for(0, "s"), strata, chunk=50):
        assert ((strata[idx] == "a").sum(axis=1) == 5).all()


def test_example_only_ci_matches_scipy_bootstrap():
    # a single member: the multi-bootstrap reduces to the ordinary bootstrap of the mean
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 400))
    reps = member_mean_replicates(x, 5000, rng_for(2, "ex"))[:, 0]
    lo, hi = percentile_ci(reps)
    ref = sps.bootstrap(
        (x[0],), np.mean, n_resamples=5000, method="percentile", random_state=np.random.default_rng(3)
    ).confidence_interval
    se = np.std(x, ddof=1) / np.sqrt(400)
    assert abs(lo - ref.low) < 0.15 * se and abs(hi - ref.high) < 0.15 * se


def test_multi_bootstrap_covers_and_widens():
    rng = np.random.default_rng(3)
    skill = rng.normal(0.75, 0.02, size=20)
    x = (rng.random((20, 2000)) < skill[:, None]).astype(float)
    res = multi_bootstrap(x, 1000, rng_for(0, "m"), rng_for(0, "e"))
    assert res.mean_ci[0] < x.mean() < res.mean_ci[1]
    assert res.sd_ci[0] < np.std(x.mean(axis=1), ddof=1) < res.sd_ci[1]
    # resampling members too gives a wider mean CI than resampling examples only
    ex_only = percentile_ci(member_mean_replicates(x, 1000, rng_for(0, "e")).mean(axis=1))
    assert (res.mean_ci[1] - res.mean_ci[0]) > (ex_only[1] - ex_only[0])


def test_difference_and_p():
    rng = np.random.default_rng(4)
    a = (rng.random((10, 500)) < 0.8).astype(float)
    b = (rng.random((10, 500)) < 0.6).astype(float)
    obs, ci, p = bootstrap_difference(a, b, 500, rng_for(0, "d"))
    # two-sided Monte Carlo p: no replicate at or below 0, so the smallest possible p, never 0
    assert obs == pytest.approx(a.mean() - b.mean()) and ci[0] > 0 and p == pytest.approx(2 / 501)
    obs, ci, p = bootstrap_difference(b, a, 500, rng_for(0, "d"), paired_examples=False, paired_members=False)
    assert ci[1] < 0 and p == pytest.approx(2 / 501)
    # hand-worked: 4 replicates, 2 at or below 0, 3 at or above 0
    reps = np.array([-1.0, 0.0, 1.0, 2.0])
    assert one_sided_p(reps) == pytest.approx(3 / 5)
    assert two_sided_p(reps) == pytest.approx(1.0)  # min(1, 2 * 3 / 5)
    assert two_sided_p(np.array([1.0, 2.0, 3.0, -1.0])) == pytest.approx(2 * 2 / 5)
    assert one_sided_p(np.array([1.0, 2.0])) == pytest.approx(1 / 3)


def test_bh_matches_scipy_and_hand():
    p = np.array([0.01, 0.04, 0.03, 0.20, np.nan])
    adj = bh(p)
    np.testing.assert_allclose(adj[:4], sps.false_discovery_control(p[:4]))
    # hand: sorted .01 .03 .04 .20 -> .04 .0533 .0533 .20
    np.testing.assert_allclose(adj[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.20])
    assert np.isnan(adj[4])


def _one_hot_probs(labels, k):
    return np.eye(k)[labels] * 0.6 + 0.4 / k


def test_marginalization_exhaustive_small():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 200)
    probs = rng.dirichlet(np.ones(3), size=(3, 200))
    probs[np.arange(3)[:, None], np.arange(200)[None, :], y[None, :]] += 0.3
    probs /= probs.sum(-1, keepdims=True)
    res = marginalization_curve(probs, y, "multiclass", 3000, rng_for(0, "marg"))
    single = [(probs[m].argmax(-1) == y).mean() for m in range(3)]
    pairs = [((probs[a] + probs[b]).argmax(-1) == y).mean() for a, b in ((0, 1), (0, 2), (1, 2))]
    full = (probs.mean(0).argmax(-1) == y).mean()
    np.testing.assert_allclose(res.member_values, single)
    assert res.mean[0] == pytest.approx(np.mean(single), abs=0.01 * np.ptp(single) + 1e-3)
    assert res.mean[1] == pytest.approx(np.mean(pairs), abs=0.01 * np.ptp(pairs) + 1e-3)
    assert res.mean[2] == pytest.approx(full) and res.sd[2] == pytest.approx(0.0, abs=1e-12)


def test_marginalization_regression_and_smallest_k():
    rng = np.random.default_rng(6)
    y = rng.normal(size=300)
    f = y[None, :] + rng.normal(size=(5, 300))  # independent errors: averaging helps
    res = marginalization_curve(f, y, "regression", 20, rng_for(0, "marg"))
    assert res.metric == "mse" and res.mean[-1] == pytest.approx(((f.mean(0) - y) ** 2).mean())
    assert smallest_k_beating(res.mean, res.member_values.min(), False) == 2
    assert smallest_k_beating(np.array([0.5, 0.6]), 0.9, True) is None
