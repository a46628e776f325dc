"""Tests of the health-record sequence perturbations (UP §8 interventions) on real arrays."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from uspec_audit.components import FeatureStats, PerturbationSpec, PerturbContext
from uspec_audit.perturb.sequence import (
    FeatureSubsetParams,
    TimeShiftParams,
    feature_subset,
    register_sequence_perturbations,
    time_shift,
)

NAMES = [
    "time_of_day",
    "creatinine",
    "sodium",
    "potassium",
    "hemoglobin",
    "platelets",
    "age",
    "tod_1",
    "tod_2",
    "tod_3",
    "tod_4",
]
LABS = ["creatinine", "sodium", "potassium", "hemoglobin", "platelets"]
B, T = 6, 8


def make_records(dtype=np.float64) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, T, len(NAMES)))
    tod = (np.arange(T)[None, :] + np.arange(B)[:, None]) % 4 + 1  # buckets 1..4 (6-hour)
    x[:, :, 0] = tod
    x[:, :, 7:] = np.eye(4)[tod - 1]
    x[0, -2:, 0] = np.nan  # padding at the end of patient 0
    x[1, -1, 0] = -1.0  # a padding marker
    return x.astype(dtype)


X = make_records()


def stats() -> FeatureStats:
    flat = X.reshape(-1, X.shape[2])
    return FeatureStats(np.nanmean(flat, 0), np.nanstd(flat, 0), np.nanmin(flat, 0), np.nanmax(flat, 0))


def ctx(params=None, n=B) -> PerturbContext:
    return PerturbContext(
        seeds=np.arange(n, dtype=np.uint64), params=params, feature_names=NAMES, feature_stats=stats()
    )


def test_registration():
    specs: list[PerturbationSpec] = []
    register_sequence_perturbations(specs.append)
    assert {s.name for s in specs} == {"time_shift", "feature_subset"}
    for s in specs:
        assert s.modality == "sequence" and s.params.model_config.get("extra") == "forbid"
        assert all(f.description for f in s.params.model_fields.values())


def test_time_shift_wraps_buckets():
    p = TimeShiftParams(time_feature="time_of_day", offset=1, period=4, first=1, skip_value=-1)
    out = time_shift(X, ctx(p))
    assert out.shape == X.shape and out.dtype == X.dtype
    t, s = X[:, :, 0], out[:, :, 0]
    valid = ~np.isnan(t) & (t != -1)
    np.testing.assert_array_equal(s[valid], (t[valid] - 1 + 1) % 4 + 1)
    assert set(np.unique(s[valid])) == {1.0, 2.0, 3.0, 4.0}
    assert np.isnan(s[0, -2:]).all() and s[1, -1] == -1.0
    np.testing.assert_array_equal(out[:, :, 1:], X[:, :, 1:])  # nothing else moves
    # shifting by period - offset returns the original
    back = time_shift(out, ctx(TimeShiftParams(offset=3, period=4, first=1, skip_value=-1)))
    np.testing.assert_array_equal(np.nan_to_num(back, nan=9), np.nan_to_num(X, nan=9))


def test_time_shift_hours_and_unwrapped():
    x = X.copy()
    x[:, :, 0] = np.arange(T)[None, :] * 6.0 % 24
    out = time_shift(x, ctx(TimeShiftParams(offset=2, bucket=6, period=24)))
    np.testing.assert_array_equal(out[:, :, 0], (x[:, :, 0] + 12) % 24)
    out = time_shift(x, ctx(TimeShiftParams(offset=-1, bucket=6)))
    np.testing.assert_array_equal(out[:, :, 0], x[:, :, 0] - 6)


def test_time_shift_onehot():
    out = time_shift(X, ctx(TimeShiftParams(onehot_features=["tod_1", "tod_2", "tod_3", "tod_4"], offset=1)))
    tod = X[:, :, 7:].argmax(-1)
    np.testing.assert_array_equal(out[:, :, 7:].argmax(-1), (tod + 1) % 4)
    np.testing.assert_array_equal(out[:, :, :7], X[:, :, :7])


def test_time_shift_float32_and_batch_independent():
    x = X.astype(np.float32)
    p = TimeShiftParams(offset=2, period=4, first=1)
    out = time_shift(x, ctx(p))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(time_shift(x[2:4], ctx(p, 2)), out[2:4])


def test_feature_subset_keeps_panel():
    p = FeatureSubsetParams(keep=["creatinine", "sodium", "potassium"], among=LABS)
    out = feature_subset(X, ctx(p))
    assert out.shape == X.shape
    np.testing.assert_array_equal(out[:, :, 1:4], X[:, :, 1:4])
    assert np.isnan(out[:, :, 4:6]).all()
    np.testing.assert_array_equal(
        np.nan_to_num(out[:, :, [0, 6, 7]], nan=7), np.nan_to_num(X[:, :, [0, 6, 7]], nan=7)
    )
    zero = feature_subset(X, ctx(FeatureSubsetParams(keep=["creatinine"], among=LABS, fill="zero")))
    assert (zero[:, :, 2:6] == 0).all()
    mean = feature_subset(X, ctx(FeatureSubsetParams(keep=["creatinine"], among=LABS, fill="mean")))
    np.testing.assert_allclose(mean[:, :, 4], stats().mean[4])


def test_feature_subset_default_among_is_all():
    out = feature_subset(X, ctx(FeatureSubsetParams(keep=["creatinine"], fill="zero")))
    assert (out[:, :, [0, 2, 3, 4, 5, 6]] == 0).all()
    np.testing.assert_array_equal(out[:, :, 1], X[:, :, 1])


def test_unknown_features_named():
    with pytest.raises(ValueError, match="bogus") as err:
        feature_subset(X, ctx(FeatureSubsetParams(keep=["creatinine", "bogus"])))
    assert "time_of_day, creatinine" in str(err.value)
    with pytest.raises(ValueError, match="clock"):
        time_shift(X, ctx(TimeShiftParams(time_feature="clock")))
    with pytest.raises(ValueError, match="not among"):
        feature_subset(X, ctx(FeatureSubsetParams(keep=["age"], among=LABS)))
    with pytest.raises(ValidationError):
        FeatureSubsetParams(keep=[])
    with pytest.raises(ValidationError):
        TimeShiftParams(offset=1, period=4, shift=2)


def test_rejects_wrong_rank():
    with pytest.raises(ValueError, match="3 dimensions"):
        time_shift(X[:, 0, :], ctx(TimeShiftParams()))
