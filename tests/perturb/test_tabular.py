"""Tests of the built-in tabular perturbations on real arrays."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from uspec_audit.components import FeatureStats, PerturbationSpec, PerturbContext
from uspec_audit.perturb.tabular import (
    CategoricalSwapParams,
    FeatureAblationParams,
    GaussianNoiseParams,
    MissingnessParams,
    ValueShiftParams,
    categorical_swap,
    feature_ablation,
    gaussian_noise_tabular,
    missingness,
    register_tabular_perturbations,
    value_shift,
)

NAMES = ["age", "income", "site", "score"]


def make_data(n: int = 400, dtype=np.float64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.normal(50, 10, n),
            rng.lognormal(10, 1, n),
            rng.integers(0, 5, n).astype(float),
            rng.normal(0, 1, n),
        ]
    )
    return x.astype(dtype)


def stats_of(x: np.ndarray) -> FeatureStats:
    x = x.astype(np.float64)
    return FeatureStats(mean=x.mean(0), sd=x.std(0), minimum=x.min(0), maximum=x.max(0))


def seeds_for(n: int, base: int = 1000) -> np.ndarray:
    return np.arange(base, base + n, dtype=np.uint64)


def ctx(x, params=None, severity=None, seeds=None) -> PerturbContext:
    return PerturbContext(
        seeds=seeds_for(len(x)) if seeds is None else seeds,
        severity=severity,
        params=params,
        feature_names=NAMES,
        feature_stats=stats_of(X),
    )


X = make_data()

RANDOM_CASES = [
    (gaussian_noise_tabular, GaussianNoiseParams(), 3),
    (categorical_swap, CategoricalSwapParams(features=["site"]), 3),
    (missingness, MissingnessParams(), 3),
]
ALL_CASES = RANDOM_CASES + [
    (feature_ablation, FeatureAblationParams(features=["income"]), None),
    (value_shift, ValueShiftParams(), 2),
]


def test_registration():
    specs: list[PerturbationSpec] = []
    register_tabular_perturbations(specs.append)
    names = {s.name for s in specs}
    assert names == {
        "gaussian_noise_tabular",
        "feature_ablation",
        "categorical_swap",
        "value_shift",
        "missingness",
    }
    for s in specs:
        assert s.modality == "tabular"
        assert s.params is not None and s.params.model_config.get("extra") == "forbid"
        for field in s.params.model_fields.values():
            assert field.description, f"{s.name}: undocumented param"
        s.params()  # every param has a default (categorical_swap checks at apply time)


@pytest.mark.parametrize("fn,params,severity", ALL_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_dtype_and_input_untouched(fn, params, severity, dtype):
    x = X.astype(dtype)
    before = x.copy()
    out = fn(x, ctx(x, params, severity))
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("fn,params,severity", RANDOM_CASES)
def test_deterministic_and_batch_independent(fn, params, severity):
    seeds = seeds_for(len(X))
    full = fn(X, ctx(X, params, severity, seeds))
    again = fn(X, ctx(X, params, severity, seeds))
    np.testing.assert_array_equal(full, again)
    # a subset, shuffled, gives the same rows as in the full batch
    idx = np.random.default_rng(5).permutation(len(X))[:37]
    part = fn(X[idx], ctx(X[idx], params, severity, seeds[idx]))
    np.testing.assert_array_equal(part, full[idx])
    # one at a time
    single = np.concatenate(
        [fn(X[i : i + 1], ctx(X[i : i + 1], params, severity, seeds[i : i + 1])) for i in idx[:5]]
    )
    np.testing.assert_array_equal(single, full[idx[:5]])
    # other seeds, other draws
    other = fn(X, ctx(X, params, severity, seeds + np.uint64(10_000)))
    assert not np.array_equal(np.nan_to_num(other, nan=-1), np.nan_to_num(full, nan=-1))


def test_gaussian_noise_scale_and_features():
    out = gaussian_noise_tabular(X, ctx(X, GaussianNoiseParams(features=["age", "score"], scale=0.5)))
    np.testing.assert_array_equal(out[:, [1, 2]], X[:, [1, 2]])
    sd = X.std(0)
    noise = (out - X)[:, [0, 3]] / sd[[0, 3]]
    assert abs(noise.std() - 0.5) < 0.05 and abs(noise.mean()) < 0.05


def test_noise_monotone_in_severity():
    spread = []
    for sev in (1, 2, 3, 4, 5):
        out = gaussian_noise_tabular(X, ctx(X, None, sev))
        spread.append(np.abs((out - X) / X.std(0)).mean())
    assert all(a < b for a, b in zip(spread, spread[1:], strict=False))


def test_missingness_rate_and_monotone():
    rates = []
    for sev, expected in zip((1, 2, 3, 4, 5), (0.05, 0.1, 0.2, 0.35, 0.5), strict=False):
        out = missingness(X, ctx(X, None, sev))
        rate = np.isnan(out).mean()
        assert abs(rate - expected) < 0.03
        rates.append(rate)
    assert all(a < b for a, b in zip(rates, rates[1:], strict=False))
    out = missingness(X, ctx(X, MissingnessParams(features=["income"], rate=1.0), 1))
    assert np.isnan(out[:, 1]).all() and not np.isnan(out[:, [0, 2, 3]]).any()


def test_ablation_fills():
    for fill, expected in (("mean", X[:, 1].mean()), ("zero", 0.0)):
        out = feature_ablation(X, ctx(X, FeatureAblationParams(features=["income"], fill=fill)))
        np.testing.assert_allclose(out[:, 1], expected)
        np.testing.assert_array_equal(out[:, [0, 2, 3]], X[:, [0, 2, 3]])
    out = feature_ablation(X, ctx(X, FeatureAblationParams(features=["age", "site"], fill="nan")))
    assert np.isnan(out[:, [0, 2]]).all()


def test_categorical_swap_observed_range():
    out = categorical_swap(X, ctx(X, CategoricalSwapParams(features=["site"], rate=1.0)))
    assert (out[:, 2] != X[:, 2]).all()  # every cell moved to another category
    assert set(np.unique(out[:, 2])) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    np.testing.assert_array_equal(out[:, [0, 1, 3]], X[:, [0, 1, 3]])
    # uniform among the other categories
    counts = np.bincount(out[:, 2].astype(int), minlength=5)
    assert counts.min() > 0.6 * len(X) / 5


def test_categorical_swap_given_categories_and_rate():
    params = CategoricalSwapParams(categories={"site": [0, 1, 2, 3, 4]}, rate=0.2)
    out = categorical_swap(X, ctx(X, params))
    changed = (out[:, 2] != X[:, 2]).mean()
    assert 0.14 < changed < 0.26
    rates = [
        (categorical_swap(X, ctx(X, CategoricalSwapParams(features=["site"]), s))[:, 2] != X[:, 2]).mean()
        for s in (1, 3, 5)
    ]
    assert rates[0] < rates[1] < rates[2]
    # a code outside the given categories is replaced by one of them; NaN stays missing
    x = X[:4].copy()
    x[0, 2], x[1, 2] = 9.0, np.nan
    out = categorical_swap(x, ctx(x, CategoricalSwapParams(categories={"site": [0, 1]}, rate=1.0)))
    assert out[0, 2] in (0.0, 1.0) and np.isnan(out[1, 2])


def test_value_shift():
    sd = X.std(0)
    out = value_shift(X, ctx(X, ValueShiftParams(features=["age"], shift=2.0)))
    np.testing.assert_allclose(out[:, 0], X[:, 0] + 2 * sd[0])
    np.testing.assert_array_equal(out[:, 1:], X[:, 1:])
    out = value_shift(X, ctx(X, ValueShiftParams(features=["income"], factor=1.1)))
    np.testing.assert_allclose(out[:, 1], X[:, 1] * 1.1)
    out = value_shift(X, ctx(X, ValueShiftParams(features=["score"], shift=-3, units="raw")))
    np.testing.assert_allclose(out[:, 3], X[:, 3] - 3)
    deltas = [np.abs(value_shift(X, ctx(X, None, s)) - X).mean() for s in (1, 2, 3, 4, 5)]
    assert all(a < b for a, b in zip(deltas, deltas[1:], strict=False))


@pytest.mark.parametrize(
    "fn,params",
    [
        (gaussian_noise_tabular, GaussianNoiseParams(features=["age", "bogus"])),
        (feature_ablation, FeatureAblationParams(features=["bogus"])),
        (categorical_swap, CategoricalSwapParams(features=["bogus"])),
        (categorical_swap, CategoricalSwapParams(features=["site"], categories={"bogus": [1, 2]})),
        (value_shift, ValueShiftParams(features=["bogus"])),
        (missingness, MissingnessParams(features=["bogus"])),
    ],
)
def test_unknown_feature_is_named(fn, params):
    with pytest.raises(ValueError, match="bogus") as err:
        fn(X, ctx(X, params, 3))
    assert "age, income, site, score" in str(err.value)


def test_params_forbid_extra_and_bounds():
    with pytest.raises(ValidationError):
        MissingnessParams(rate=0.1, typo=1)
    with pytest.raises(ValidationError):
        MissingnessParams(rate=1.5)
    with pytest.raises(ValidationError):
        GaussianNoiseParams(scale=-1)


def test_needs_severity_or_strength():
    with pytest.raises(ValueError, match="severity"):
        missingness(X, ctx(X, MissingnessParams()))
    with pytest.raises(ValueError, match="severity 7"):
        missingness(X, ctx(X, None, 7))


def test_dict_params_and_missing_stats():
    out = missingness(X, ctx(X, {"rate": 1.0, "features": ["age"]}))
    assert np.isnan(out[:, 0]).all()
    bare = PerturbContext(seeds=seeds_for(len(X)), severity=1, feature_names=NAMES)
    with pytest.raises(ValueError, match="feature statistics"):
        gaussian_noise_tabular(X, bare)


def test_rejects_non_float_and_wrong_seed_count():
    with pytest.raises(TypeError, match="floating"):
        missingness(X.astype(np.int64), ctx(X, None, 1))
    with pytest.raises(ValueError, match="one seed per example"):
        missingness(X, ctx(X, None, 1, seeds=seeds_for(3)))


def test_empty_batch():
    out = gaussian_noise_tabular(X[:0], ctx(X[:0], None, 2))
    assert out.shape == (0, 4)


def test_categorical_swap_refuses_continuous_range():
    with pytest.raises(ValueError, match="is it categorical"):
        categorical_swap(X, ctx(X, CategoricalSwapParams(features=["income"], rate=0.5)))
    with pytest.raises(ValueError, match="needs params.features"):
        categorical_swap(X, ctx(X, CategoricalSwapParams(rate=0.5)))


def test_categorical_swap_integer_inputs():
    xi = X.astype(np.int64)
    out = categorical_swap(xi, ctx(xi, CategoricalSwapParams(features=["site"], rate=1.0)))
    assert out.dtype == np.int64 and (out[:, 2] != xi[:, 2]).all()
