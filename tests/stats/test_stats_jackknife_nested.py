import numpy as np
import pytest
from scipy import stats as sps

from uspec_audit.stats.jackknife import block_labels, jackknife_sd_additive, jackknife_se, two_sample_z
from uspec_audit.stats.nested import anova_oneway
from uspec_audit.stats.seeding import rng_for


def _sd_of_means(x, keep):
    return np.std(x[:, keep].mean(axis=1), ddof=1)


def test_delete_one_matches_naive_loop():
    rng = np.random.default_rng(0)
    x = (rng.random((6, 30)) < 0.7).astype(float)
    sd, se, theta = jackknife_sd_additive(x, blocks=50)  # n <= blocks: delete-one
    n = 30
    naive = np.array([_sd_of_means(x, np.arange(n) != i) for i in range(n)])
    np.testing.assert_allclose(np.sort(theta), np.sort(naive))
    assert se == pytest.approx(np.sqrt((n - 1) / n * ((naive - naive.mean()) ** 2).sum()))
    assert sd == pytest.approx(np.std(x.mean(axis=1), ddof=1))


def test_delete_a_block_matches_generic_jackknife():
    rng = np.random.default_rng(1)
    x = rng.random((5, 1003))
    sd, se, _ = jackknife_sd_additive(x, blocks=20, rng=rng_for(0, "blocks"))
    labels, g = block_labels(1003, 20, rng_for(0, "blocks"))
    assert g == 20 and np.bincount(labels).min() >= 50
    assert se == pytest.approx(jackknife_se(lambda keep: _sd_of_means(x, keep), labels, g))


def test_jackknife_of_a_mean_is_the_classical_se():
    # for a linear statistic the delete-one jackknife SE equals s / sqrt(n)
    rng = np.random.default_rng(2)
    v = rng.normal(size=40)
    se = jackknife_se(lambda keep: v[keep].mean(), np.arange(40), 40)
    assert se == pytest.approx(np.std(v, ddof=1) / np.sqrt(40))


def test_two_sample_z_hand_worked_and_paper_numbers():
    # both standard errors count: z = (0.05 - 0.02) / sqrt(0.012^2 + 0.006^2) = 2.2361, p = P(Z >= z) = 0.01267
    z, p = two_sample_z(0.05, 0.012, 0.02, 0.006)
    assert z == pytest.approx(0.03 / np.sqrt(0.012**2 + 0.006**2)) and z == pytest.approx(2.23607, abs=1e-5)
    assert p == pytest.approx(0.012674, abs=1e-6)
    assert two_sample_z(0.02, 0.006, 0.05, 0.012)[0] == pytest.approx(-z)  # one-sided: direction matters
    # UP §6.1 reports z = 2.47 for the held-out camera, p = 0.007: the normal tail of that z
    z, p = two_sample_z(2.47 * 0.5, 0.3, 0.0, 0.4)  # any SEs with sqrt(0.3^2 + 0.4^2) = 0.5
    assert z == pytest.approx(2.47) and round(p, 3) == 0.007
    assert np.isnan(two_sample_z(1.0, 0.0, 1.0, 0.0)[0])


def test_anova_matches_scipy_f_oneway():
    rng = np.random.default_rng(3)
    groups = np.repeat(["a", "b", "c", "d"], 5)
    v = rng.normal(size=20) + np.repeat([0.0, 0.5, 1.0, 0.2], 5)
    res = anova_oneway(v, groups)
    ref = sps.f_oneway(*[v[groups == g] for g in "abcd"])
    assert res.f == pytest.approx(ref.statistic) and res.p_value == pytest.approx(ref.pvalue)
    # eta^2 by hand
    grand = v.mean()
    ssb = sum(5 * (v[groups == g].mean() - grand) ** 2 for g in "abcd")
    assert res.between_share == pytest.approx(ssb / ((v - grand) ** 2).sum())


def test_anova_undefined_and_extreme():
    assert np.isnan(anova_oneway([1.0, 2.0, 3.0], ["a", "a", "a"]).f)  # one group
    assert np.isnan(anova_oneway([1.0, 2.0], ["a", "b"]).f)  # no within df
    assert np.isnan(anova_oneway([1.0, 1.0, 1.0, 1.0], ["a", "a", "b", "b"]).f)  # constant
    res = anova_oneway([1.0, 1.0, 2.0, 2.0], ["a", "a", "b", "b"])
    assert res.f == np.inf and res.p_value == 0.0 and res.between_share == 1.0
