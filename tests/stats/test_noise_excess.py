"""Signal and noise (noise.py), the excess test (excess.py) and metric recipes (resample.py) against
independent computations: hand-written ANOVA, the permutation null, scipy, scikit-learn, naive loops."""

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as sps
from sklearn.metrics import balanced_accuracy_score

from uspec_audit.metrics.calibration import ece
from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats import noise
from uspec_audit.stats.bootstrap import example_index_chunks
from uspec_audit.stats.excess import excess_test, fit_slope
from uspec_audit.stats.permutation import systematic_variation
from uspec_audit.stats.resample import recipe
from uspec_audit.stats.seeding import rng_for


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_systematic_var_is_the_two_way_anova_member_component():
    rng = np.random.default_rng(0)
    m, n = 7, 400
    x = (rng.random((m, n)) < _sigmoid(1.5 + rng.normal(0, 0.4, (m, 1)) + rng.normal(0, 1, n))).astype(float)
    # two-way ANOVA without replication, by hand: E[MS_members] = n var_a + MS_res
    grand = x.mean()
    ss_members = n * ((x.mean(axis=1) - grand) ** 2).sum()
    resid = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + grand
    ms_res = (resid**2).sum() / ((m - 1) * (n - 1))
    var_a = (ss_members / (m - 1) - ms_res) / n
    cov = noise.mean_noise_cov(x)
    assert noise.systematic_var(x.mean(axis=1), cov) == pytest.approx(var_a, rel=1e-10)
    assert noise.noise_var(cov) == pytest.approx(ms_res / n, rel=1e-10)


def test_noise_var_is_the_permutation_null_mean_up_to_n_over_n_minus_1():
    rng = np.random.default_rng(1)
    c = rng.random((10, 300)) < rng.beta(1.7, 0.3, 300)[None, :]
    res = systematic_variation(c, 20000, rng_for(1, "perm"))
    x = c.astype(float)
    v_obs = np.var(x.mean(axis=1), ddof=1)
    # unbiased systematic variance = n/(n-1) (var_obs - E[null]); the null mean is a Monte Carlo estimate
    expected = 300 / 299 * (v_obs - res.null_mean)
    assert noise.systematic_var(x.mean(axis=1), noise.mean_noise_cov(x)) == pytest.approx(expected, abs=2e-6)


def test_cross_noise_cov_matches_monte_carlo_over_resampled_examples():
    # a stratum of the iid test: Cov(mean over all n, mean over the stratum) = cov_stratum / n
    rng = np.random.default_rng(2)
    m, n, k = 4, 200, 60
    x = rng.normal(size=(m, n)) + rng.normal(size=(1, n))
    stratum = np.arange(k)
    got = noise.cross_noise_cov(x[:, stratum], x[:, stratum], n, k)
    draws = []
    for _ in range(20000):  # stratified resampling: the stratum and the rest within themselves
        s = rng.integers(0, k, k)
        r = k + rng.integers(0, n - k, n - k)
        idx = np.concatenate([s, r])
        draws.append(np.concatenate([x[:, idx].mean(axis=1), x[:, s].mean(axis=1)]))
    mc = np.cov(np.array(draws), rowvar=False)[:m, m:]
    # the stratified bootstrap covariance is (k-1)/k of the unbiased one
    np.testing.assert_allclose(got * (k - 1) / k, mc, atol=4e-4)


def test_replicate_noise_var_matches_naive_loop():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 50))
    cov = a @ a.T / 50
    idx = rng.integers(0, 5, size=(30, 5))
    got = noise.replicate_noise_var(cov, idx)
    for b in range(30):
        sub = cov[np.ix_(idx[b], idx[b])]
        c = np.eye(5) - 1 / 5
        assert got[b] == pytest.approx(max(0.0, np.trace(c @ sub @ c) / 4))


def test_statistic_is_a_non_negative_least_squares_fit():
    rng = np.random.default_rng(4)
    for _ in range(50):
        u, v = rng.normal(size=8), rng.normal(size=8) + rng.normal() * np.arange(8)
        beta, t = fit_slope(u[None], v[None])
        uc, vc = u - u.mean(), v - v.mean()
        sol, resid = optimize.nnls(uc[:, None], vc)
        assert beta[0] == pytest.approx(sol[0], abs=1e-10) and t[0] == pytest.approx(resid**2, abs=1e-10)
        bounded = optimize.lsq_linear(uc[:, None], vc, bounds=(0.0, 1.5))
        beta, t = fit_slope(u[None], v[None], 1.5)
        assert beta[0] == pytest.approx(bounded.x[0], abs=1e-8)
        assert t[0] == pytest.approx(((vc - bounded.x[0] * uc) ** 2).sum(), rel=1e-8)


def test_iid_members_that_tie_do_not_hide_large_excess():
    """Members indistinguishable on iid, far apart on the test: a chance alignment of the iid noise
    with the test's differences must not let a huge slope explain them away."""
    rng = np.random.default_rng(12)
    hits = 0
    for _ in range(60):
        x, y = _bernoulli_world(rng, np.zeros(10), rng.normal(0, 0.5, 10), n_test=2000)
        res = excess_test(
            x.mean(1), y.mean(1), noise.mean_noise_cov(x), noise.mean_noise_cov(y), None, 400, rng
        )
        hits += res.p_value < 0.01
        assert res.slope <= 3.0
    assert hits == 60


def _bernoulli_world(rng, offsets_iid, offsets_test, n_iid=2000, n_test=1000, test_beta=(1.7, 0.3)):
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
    p = np.clip(rng.beta(1.7, 0.3, n_iid), 1e-6, 1 - 1e-6)
    q = np.clip(rng.beta(*test_beta, n_test), 1e-6, 1 - 1e-6)
    x = (rng.random((offsets_iid.size, n_iid)) < _sigmoid(logit(p)[None] + offsets_iid[:, None])).astype(
        float
    )
    y = (rng.random((offsets_test.size, n_test)) < _sigmoid(logit(q)[None] + offsets_test[:, None])).astype(
        float
    )
    return x, y


@pytest.mark.parametrize("case", ["pure", "carry-over on a harder test", "carry-over on a small test"])
def test_excess_test_holds_its_level_under_both_nulls(case):
    rng = np.random.default_rng(5)
    pvals = []
    for _ in range(300):
        a = np.zeros(10) if case == "pure" else rng.normal(0, 0.3, 10)
        beta, n_test = (
            ((1.4, 0.6), 1000) if "harder" in case else ((1.7, 0.3), 300 if "small" in case else 2000)
        )
        x, y = _bernoulli_world(rng, a, a, n_test=n_test, test_beta=beta)
        res = excess_test(
            x.mean(1), y.mean(1), noise.mean_noise_cov(x), noise.mean_noise_cov(y), None, 400, rng
        )
        pvals.append(res.p_value)
    pvals = np.array(pvals)
    # level 0.05 within Monte Carlo error (se 0.0126 at 300 repetitions), and roughly uniform
    assert (pvals < 0.05).mean() <= 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / 300)
    assert (pvals < 0.5).mean() == pytest.approx(0.5, abs=0.1)


def test_excess_test_power_and_smallest_p():
    rng = np.random.default_rng(6)
    hits = 0
    for _ in range(60):
        x, y = _bernoulli_world(rng, np.zeros(10), rng.normal(0, 0.2, 10), n_test=2000)
        res = excess_test(
            x.mean(1), y.mean(1), noise.mean_noise_cov(x), noise.mean_noise_cov(y), None, 400, rng
        )
        hits += res.p_value < 0.05
        assert res.p_value >= 1 / 401  # Monte Carlo p, never 0
    assert hits / 60 >= 0.8


def test_excess_test_degenerate_inputs():
    rng = rng_for(0, "x")
    cov = np.eye(3) * 1e-4
    assert np.isnan(excess_test([0.8, 0.8], [0.7, 0.6], cov[:2, :2], cov[:2, :2], None, 100, rng).p_value)
    same = excess_test([0.8, 0.8, 0.8], [0.8, 0.8, 0.8], np.zeros((3, 3)), np.zeros((3, 3)), None, 100, rng)
    assert same.p_value == 1.0 and same.excess_sd == 0.0
    # a member with NaN on either side is dropped, not propagated
    res = excess_test(
        [0.8, 0.81, np.nan, 0.79], [0.6, 0.9, 0.7, 0.65], np.eye(4) * 1e-4, np.eye(4) * 1e-4, None, 500, rng
    )
    assert res.n_members == 3 and np.isfinite(res.p_value)


def _probs_world(seed, m=4, n=500, k=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    z = rng.normal(size=(m, n, k)) * 1.5
    z[np.arange(m)[:, None], np.arange(n)[None, :], y[None, :]] += 1.2
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    return PredictionSet("e", "t", "none", "multiclass", [f"m{i}" for i in range(m)], np.arange(n), y, p)


def test_ece_and_balanced_accuracy_recipes_match_the_metrics_on_resamples():
    ps = _probs_world(7)
    rng = np.random.default_rng(8)
    for name, reference in (("ece", lambda y, p: ece(y, p)), ("balanced_accuracy", balanced_accuracy_score)):
        r = recipe(ps, name)
        for _ in range(5):
            idx = rng.integers(0, 500, 500)
            counts = np.bincount(idx, minlength=500).astype(float)
            got = r.replicate(counts[None])[0]
            if name == "ece":
                want = [reference(ps.target[idx], ps.outputs[j][idx]) for j in range(4)]
            else:
                want = [reference(ps.target[idx], ps.outputs[j][idx].argmax(-1)) for j in range(4)]
            np.testing.assert_allclose(got, want, atol=1e-12)


def test_top5_accuracy_per_example_matches_the_metric():
    from uspec_audit.metrics.classification import top5_accuracy

    ps = _probs_world(9, k=8)
    r = recipe(ps, "top5_accuracy")
    np.testing.assert_allclose(r.values(), [top5_accuracy(ps.target, ps.outputs[j]) for j in range(4)])
    assert sps.describe(r.rows.ravel()).minmax == (0.0, 1.0) and r.additive


def test_replicate_values_share_the_resamples_of_member_mean_replicates():
    from uspec_audit.stats.bootstrap import member_mean_replicates
    from uspec_audit.stats.resample import replicate_values

    ps = _probs_world(11)
    acc, ece_r = recipe(ps, "accuracy"), recipe(ps, "ece")
    reps_acc, reps_ece = replicate_values([acc, ece_r], 500, 40, rng_for(3, "s"))
    np.testing.assert_allclose(reps_acc, member_mean_replicates(acc.rows, 40, rng_for(3, "s")))
    idx = np.vstack(list(example_index_chunks(500, 40, rng_for(3, "s"), None, 500)))
    np.testing.assert_allclose(
        reps_ece, [[ece(ps.target[i], ps.outputs[j][i]) for j in range(4)] for i in idx]
    )


@pytest.mark.parametrize("task, k", [("binary", 2), ("multiclass", 4)])
def test_auc_replicates_match_the_metric_on_each_resample(task, k):
    from uspec_audit.metrics.classification import auc
    from uspec_audit.stats.resample import auc_replicates

    rng = np.random.default_rng(10)
    y = rng.integers(0, k, 300)
    z = rng.normal(size=(3, 300, k))
    p = np.round(np.exp(z) / np.exp(z).sum(-1, keepdims=True), 2)  # rounding makes ties
    ps = PredictionSet("e", "t", "none", task, ["a", "b", "c"], np.arange(300), y, p)
    np.testing.assert_allclose(auc_replicates(ps, None, 1, None)[0], [auc(y, p[j], task) for j in range(3)])
    reps = auc_replicates(ps, None, 6, rng_for(1, "auc"))
    idx = np.vstack(list(example_index_chunks(300, 6, rng_for(1, "auc"), None, 100)))
    np.testing.assert_allclose(reps, [[auc(y[i], p[j][i], task) for j in range(3)] for i in idx])
