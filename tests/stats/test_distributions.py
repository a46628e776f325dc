"""The scipy.stats stand-ins of uspec_audit.stats.distributions against scipy.stats itself, and the blocked
example counts of the bootstrap against a direct count."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from uspec_audit.stats.bootstrap import count_blocks, example_index_chunks
from uspec_audit.stats.distributions import bh_adjusted, f_sf, norm_sf, pearson_p, rankdata, spearman
from uspec_audit.stats.seeding import rng_for


@pytest.mark.parametrize("ties", [False, True])
def test_rankdata_is_scipys_on_every_axis(ties):
    rng = np.random.default_rng(1)
    for trial in range(120):
        shape = (int(rng.integers(1, 5)), int(rng.integers(0, 12)), int(rng.integers(1, 3)))
        a = rng.integers(0, 4, size=shape).astype(float) if ties else rng.normal(size=shape)
        if trial % 4 == 0 and a.size:
            a[0, 0, 0] = np.nan  # a slice with a NaN is all NaN, as scipy's nan_policy="propagate"
        for axis in (0, 1, 2, -1, None):
            mine, theirs = rankdata(a, axis=axis), sps.rankdata(a, axis=axis)
            assert mine.shape == theirs.shape
            np.testing.assert_array_equal(mine, theirs)


def test_rankdata_by_hand():
    np.testing.assert_array_equal(rankdata(np.array([3.0, 1.0, 3.0, 2.0, 3.0])), [4.0, 1.0, 4.0, 2.0, 4.0])


def test_correlation_p_values_and_tails_are_scipys():
    rng = np.random.default_rng(2)
    checked = 0
    for trial in range(300):
        n = int(rng.integers(3, 40))
        x = rng.normal(size=n)
        y = x * rng.uniform(-1, 1) + rng.normal(size=n)
        if trial % 3 == 0:
            x, y = np.round(x), np.round(y)
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        checked += 1
        assert (
            spearman(x, y) == sps.spearmanr(x, y).statistic
        )  # bit for bit: the same corrcoef of the same ranks
        result = sps.pearsonr(x, y)
        assert pearson_p(x, y) == pytest.approx(result.pvalue, rel=1e-9, abs=1e-300)
        p = rng.uniform(size=n) ** 3
        np.testing.assert_allclose(
            bh_adjusted(p), sps.false_discovery_control(p, method="bh"), rtol=0, atol=1e-15
        )
        z = rng.normal() * 4
        assert norm_sf(z) == pytest.approx(sps.norm.sf(z), rel=1e-14)
        f = rng.uniform(0, 10)
        assert f_sf(f, 3, n) == pytest.approx(sps.f.sf(f, 3, n), rel=1e-12)
    assert checked > 200
    assert np.isnan(pearson_p([1.0, 2.0], [2.0, 1.0])) and np.isnan(
        pearson_p([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    )
    assert pearson_p([1.0, 2.0, 3.0, 4.0], [1.0, -1.0, -1.0, 1.0]) == 1.0  # r = 0
    x = np.arange(60.0)  # a near-perfect correlation: p far in the tail, still as scipy's
    y = x + np.random.default_rng(5).normal(scale=1e-3, size=60)
    assert 0 < pearson_p(x, y) == pytest.approx(sps.pearsonr(x, y).pvalue, rel=1e-6)


def test_statistics_do_not_import_scipy_stats():
    """The reason the module exists: a run's statistics never pay scipy.stats' import."""
    code = (
        "import sys; import uspec_audit.stats.analyze, uspec_audit.stats.differences, uspec_audit.pipeline.run; "
        "print('scipy.stats' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("strata", [None, "three"])
def test_count_blocks_count_every_draw(strata):
    n, b = 97, 23
    labels = None if strata is None else np.arange(n) % 3
    idx = np.vstack(list(example_index_chunks(n, b, rng_for(4, "blocks"), labels, chunk=10)))
    expected = np.stack([np.bincount(row, minlength=n) for row in idx])
    got = np.empty((b, n))
    seen = 0
    for first, counts in count_blocks(
        idx, n, block_elements=5 * n + 3
    ):  # blocks of 5 rows, the last one shorter
        assert counts.shape[0] <= 5
        got[first : first + counts.shape[0]] = counts
        seen += counts.shape[0]
    assert seen == b
    np.testing.assert_array_equal(got, expected)
    if labels is not None:  # stratified: every row keeps each stratum's size
        for g in range(3):
            np.testing.assert_array_equal(got[:, labels == g].sum(axis=1), np.full(b, (labels == g).sum()))


def test_index_draws_do_not_depend_on_the_index_type():
    """int32 indices are the same draws as int64 ones (the stream of every seeded result is unchanged)."""
    for n in (7, 1000, 2**20 + 3):
        a = np.random.default_rng(9).integers(0, n, size=(3, 501))
        b = np.random.default_rng(9).integers(0, n, size=(3, 501), dtype=np.int32)
        np.testing.assert_array_equal(a, b)
