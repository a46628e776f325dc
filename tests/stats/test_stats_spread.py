import statistics

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from uspec_audit.stats.spread import scaled_deviation, sd, sd_ratio, spread, worst_best


def test_spread_matches_statistics_module():
    v = np.array([0.71, 0.74, 0.69, 0.80, 0.77])
    s = spread(v)
    assert s.n_members == 5
    assert np.isclose(s.mean, statistics.fmean(v))
    assert np.isclose(s.sd, statistics.stdev(v))
    assert (s.min, s.max) == (0.69, 0.80)
    assert np.isclose(s.range, 0.11)


def test_hand_worked_ratio_and_scaled_deviation():
    ref = np.array([1.0, 2.0, 3.0])  # sd 1
    t = np.array([0.0, 2.0, 4.0, np.nan])  # sd 2 (NaN dropped)
    assert sd(ref) == 1.0
    assert sd_ratio(t, ref) == 2.0
    np.testing.assert_allclose(scaled_deviation(t, ref), [-2.0, 0.0, 2.0, np.nan])


def test_undefined_cases_are_nan_not_errors():
    assert np.isnan(sd([0.5]))
    assert np.isnan(sd_ratio([0.1, 0.2], [0.5, 0.5]))  # zero reference sd
    assert np.isnan(sd_ratio([0.1, 0.2], [0.5]))
    s = spread(np.array([np.nan, np.nan]))
    assert s.n_members == 0 and np.isnan(s.mean)
    assert np.isnan(scaled_deviation([1.0, 2.0], [3.0, 3.0])).all()
    assert worst_best(np.array([np.nan]), True) == (None, None)


def test_worst_best_direction():
    v = np.array([0.3, 0.9, 0.1])
    assert worst_best(v, True) == (2, 1)
    assert worst_best(v, False) == (1, 2)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.integers(2, 12), elements=st.floats(-10, 10)), st.randoms())
def test_member_order_invariance(v, rnd):
    perm = list(range(v.size))
    rnd.shuffle(perm)
    a, b = spread(v), spread(v[perm])
    assert np.isclose(a.mean, b.mean) and np.isclose(a.sd, b.sd, atol=1e-12)
    assert (a.min, a.max) == (b.min, b.max)
