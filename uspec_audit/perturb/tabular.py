"""Built-in tabular perturbations.

Inputs are floating arrays ``(B, F)`` (``float32`` or ``float64``; the dtype is
kept), with column names in ``PerturbContext.feature_names``. Every
perturbation takes ``features: list[str] | None`` (``None``: all columns); a
name that is not a column raises a :class:`ValueError` naming it and listing
the valid names.

Randomness for example ``i`` comes only from
``np.random.default_rng(ctx.seeds[i])``: each example draws a fixed-size block
of random numbers (one per *selected* feature), so its output does not depend
on which other examples share the batch, and a re-run, resumed or sharded run
reproduces it exactly. Everything after the draws is vectorized over the batch.

Severities 1-5 map to the strengths in each ``*_SEVERITY`` table below; an
explicit strength in the params overrides the severity.

=========================  ==========================================  =================================
name                       what it does                                severity 1..5
=========================  ==========================================  =================================
``gaussian_noise_tabular`` ``x + N(0, (scale * sd_f)^2)``              scale 0.1, 0.2, 0.3, 0.5, 0.8
``feature_ablation``       selected columns set to mean, 0 or NaN      (none: deterministic)
``categorical_swap``       integer codes replaced by another category  rate 0.05, 0.1, 0.2, 0.35, 0.5
``value_shift``            ``x * factor + shift`` (shift in sd units)  shift 0.25, 0.5, 1, 1.5, 2 sd
``missingness``            cells set to NaN at a rate                  rate 0.05, 0.1, 0.2, 0.35, 0.5
=========================  ==========================================  =================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from uspec_audit.components import FeatureStats, PerturbationSpec, PerturbContext

NOISE_SEVERITY = {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.5, 5: 0.8}
SWAP_SEVERITY = {1: 0.05, 2: 0.1, 3: 0.2, 4: 0.35, 5: 0.5}
SHIFT_SEVERITY = {1: 0.25, 2: 0.5, 3: 1.0, 4: 1.5, 5: 2.0}
MISSING_SEVERITY = {1: 0.05, 2: 0.1, 3: 0.2, 4: 0.35, 5: 0.5}
SEVERITIES = (1, 2, 3, 4, 5)
MAX_OBSERVED_CATEGORIES = 10_000

P = TypeVar("P", bound=BaseModel)

_FEATURES = Field(
    default=None,
    description="Names of the columns to perturb; None (the default) perturbs every column.",
)


# --------------------------------------------------------------------------- helpers
# (shared with uspec_audit.perturb.sequence)


def get_params(ctx: PerturbContext, model: type[P]) -> P:
    """The validated params of ``ctx`` (defaults when the audit gave none)."""
    params = ctx.params
    if params is None:
        return model()
    if isinstance(params, model):
        return params
    if isinstance(params, dict):
        return model.model_validate(params)
    return model.model_validate(params.model_dump())


def feature_indices(
    requested: list[str] | None, feature_names: list[str] | None, n_features: int, what: str = "features"
) -> np.ndarray:
    """Column indices of ``requested`` names (all columns when ``None``).

    Raises :class:`ValueError` naming any unknown feature and listing the valid names.
    """
    if requested is None:
        return np.arange(n_features)
    if feature_names is None:
        raise ValueError(
            f"{what} {requested!r} are given by name but the dataset has no feature names; "
            "declare the column names in the dataset"
        )
    if len(feature_names) != n_features:
        raise ValueError(
            f"the dataset declares {len(feature_names)} feature names but inputs have {n_features} columns"
        )
    index = {name: i for i, name in enumerate(feature_names)}
    unknown = [name for name in requested if name not in index]
    if unknown:
        raise ValueError(
            f"unknown feature{'s' if len(unknown) > 1 else ''} {', '.join(repr(u) for u in unknown)} in {what}; "
            f"valid names: {', '.join(feature_names)}"
        )
    return np.asarray([index[name] for name in dict.fromkeys(requested)], dtype=np.int64)


def strength(
    value: float | None, severity: int | None, table: dict[int, float], name: str, param: str
) -> float:
    """An explicit param value, else the severity's entry of ``table``."""
    if value is not None:
        return float(value)
    if severity is None:
        raise ValueError(f"{name} needs a severity ({min(table)}-{max(table)}) or params.{param}")
    if severity not in table:
        raise ValueError(f"{name}: severity {severity} is not one of {sorted(table)}")
    return table[severity]


def per_example(seeds: np.ndarray, draw: Callable[[np.random.Generator], np.ndarray]) -> np.ndarray:
    """Stack ``draw(np.random.default_rng(seed))`` over the examples' seeds."""
    seeds = np.asarray(seeds)
    rows = [draw(np.random.default_rng(int(s))) for s in seeds.ravel()]
    if not rows:
        probe = draw(np.random.default_rng(0))
        return np.empty((0,) + probe.shape, dtype=probe.dtype)
    return np.stack(rows)


def check_seeds(inputs: np.ndarray, ctx: PerturbContext) -> None:
    if ctx.seeds is None or len(ctx.seeds) != inputs.shape[0]:
        n = None if ctx.seeds is None else len(ctx.seeds)
        raise ValueError(f"expected one seed per example ({inputs.shape[0]}), got {n}")


def as_float_array(inputs, ndim: int, name: str) -> np.ndarray:
    """A copy of ``inputs`` as a floating array of ``ndim`` dimensions (dtype kept when floating)."""
    x = np.array(inputs, copy=True)
    if x.ndim != ndim:
        raise ValueError(f"{name} expects inputs of {ndim} dimensions, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} expects floating inputs (float32/float64), got {x.dtype}")
    return x


def require_stats(ctx: PerturbContext, name: str, n_features: int) -> FeatureStats:
    stats = ctx.feature_stats
    if stats is None:
        raise ValueError(f"{name} needs the dataset's feature statistics (PerturbContext.feature_stats)")
    if np.shape(stats.mean)[-1] != n_features:
        raise ValueError(
            f"feature statistics cover {np.shape(stats.mean)[-1]} features, inputs have {n_features}"
        )
    return stats


# --------------------------------------------------------------------------- params


class GaussianNoiseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[str] | None = _FEATURES
    scale: float | None = Field(
        default=None,
        ge=0,
        description="Noise sd as a multiple of each feature's dataset sd; overrides the severity "
        "(severity 1-5: 0.1, 0.2, 0.3, 0.5, 0.8).",
    )


class FeatureAblationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[str] | None = _FEATURES
    fill: Literal["mean", "zero", "nan"] = Field(
        default="mean", description="Value the ablated columns take: the dataset mean, 0, or NaN (missing)."
    )


class CategoricalSwapParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[str] | None = Field(
        default=None,
        description="Integer-coded columns to swap; None: the keys of `categories` (one of the two is required).",
    )
    categories: dict[str, list[float]] | None = Field(
        default=None,
        description="Allowed codes per feature; features not listed use the integers of the observed "
        "range [min, max] of the dataset.",
    )
    rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Probability that each selected cell is replaced by another category (uniform "
        "among the others); overrides the severity (1-5: 0.05, 0.1, 0.2, 0.35, 0.5).",
    )


class ValueShiftParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[str] | None = _FEATURES
    shift: float | None = Field(
        default=None,
        description="Constant added after scaling; overrides the severity (1-5: 0.25, 0.5, 1, 1.5, 2). "
        "In dataset-sd units unless units='raw'.",
    )
    factor: float = Field(default=1.0, description="Multiplier applied before the shift: x * factor + shift.")
    units: Literal["sd", "raw"] = Field(
        default="sd",
        description="'sd': shift is in units of each feature's dataset sd; 'raw': in the feature's units.",
    )


class MissingnessParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[str] | None = _FEATURES
    rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Probability that each selected cell is set to NaN; overrides the severity "
        "(1-5: 0.05, 0.1, 0.2, 0.35, 0.5).",
    )


# --------------------------------------------------------------------------- perturbations


def gaussian_noise_tabular(inputs: np.ndarray, ctx: PerturbContext) -> np.ndarray:
    """Add Gaussian noise with sd ``scale * sd_f`` to each selected feature ``f``."""
    p = get_params(ctx, GaussianNoiseParams)
    x = as_float_array(inputs, 2, "gaussian_noise_tabular")
    check_seeds(x, ctx)
    cols = feature_indices(p.features, ctx.feature_names, x.shape[1])
    scale = strength(p.scale, ctx.severity, NOISE_SEVERITY, "gaussian_noise_tabular", "scale")
    stats = require_stats(ctx, "gaussian_noise_tabular", x.shape[1])
    sd = np.nan_to_num(np.asarray(stats.sd, dtype=np.float64)[cols], nan=0.0)
    z = per_example(ctx.seeds, lambda rng: rng.standard_normal(len(cols)))
    x[:, cols] = (x[:, cols].astype(np.float64) + z * (scale * sd)).astype(x.dtype)
    return x


def feature_ablation(inputs: np.ndarray, ctx: PerturbContext) -> np.ndarray:
    """Replace the selected features by their dataset mean, zero, or NaN (deterministic)."""
    p = get_params(ctx, FeatureAblationParams)
    x = as_float_array(inputs, 2, "feature_ablation")
    cols = feature_indices(p.features, ctx.feature_names, x.shape[1])
    if p.fill == "mean":
        stats = require_stats(ctx, "feature_ablation", x.shape[1])
        x[:, cols] = np.asarray(stats.mean, dtype=np.float64)[cols].astype(x.dtype)
    else:
        x[:, cols] = 0.0 if p.fill == "zero" else np.nan
    return x


def categorical_swap(inputs: np.ndarray, ctx: PerturbContext) -> np.ndarray:
    """Replace integer-coded categories, at a rate, by another category drawn uniformly."""
    p = get_params(ctx, CategoricalSwapParams)
    x = np.array(inputs, copy=True)
    if x.ndim != 2:
        raise ValueError(f"categorical_swap expects inputs of 2 dimensions, got shape {x.shape}")
    check_seeds(x, ctx)
    requested = p.features if p.features is not None else (list(p.categories) if p.categories else None)
    if requested is None:
        raise ValueError(
            "categorical_swap needs params.features or params.categories naming the categorical columns"
        )
    cols = feature_indices(requested, ctx.feature_names, x.shape[1])
    if p.categories:
        feature_indices(list(p.categories), ctx.feature_names, x.shape[1], what="categories")
    rate = strength(p.rate, ctx.severity, SWAP_SEVERITY, "categorical_swap", "rate")
    names: list[str] = list(ctx.feature_names or [])  # feature_indices has checked the names exist
    stats = ctx.feature_stats
    levels: list[np.ndarray] = []
    for c in cols:
        given = (p.categories or {}).get(names[c])
        if given is not None:
            cats = np.unique(np.asarray(given, dtype=np.float64))
        else:
            if stats is None:
                raise ValueError(
                    f"categorical_swap: no categories given for {names[c]!r} "
                    "and no feature statistics to take the observed range from"
                )
            lo, hi = float(stats.minimum[c]), float(stats.maximum[c])
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise ValueError(f"categorical_swap: observed range of {names[c]!r} is not finite")
            if hi - lo > MAX_OBSERVED_CATEGORIES:
                raise ValueError(
                    f"categorical_swap: {names[c]!r} spans [{lo:g}, {hi:g}], more than "
                    f"{MAX_OBSERVED_CATEGORIES} codes; is it categorical? Give params.categories for it"
                )
            cats = np.arange(np.ceil(lo), np.floor(hi) + 1, dtype=np.float64)
        levels.append(cats)
    # one block of draws per example: a swap decision and a category choice per selected feature
    u = per_example(ctx.seeds, lambda rng: rng.random((2, len(cols))))
    for j, (c, cats) in enumerate(zip(cols, levels, strict=True)):
        k = len(cats)
        if k < 2:
            continue
        col = x[:, c].astype(np.float64)
        pos = np.searchsorted(cats, col)
        pos_c = np.minimum(pos, k - 1)
        known = cats[pos_c] == col
        swap = (u[:, 0, j] < rate) & ~np.isnan(col)
        # a known category moves to one of the k - 1 others; an unknown code to any of the k
        step = np.minimum((u[:, 1, j] * (k - 1)).astype(np.int64), k - 2)
        any_pos = np.minimum((u[:, 1, j] * k).astype(np.int64), k - 1)
        new_pos = np.where(known, (pos_c + 1 + step) % k, any_pos)
        x[:, c] = np.where(swap, cats[new_pos], col).astype(x.dtype)
    return x


def value_shift(inputs: np.ndarray, ctx: PerturbContext) -> np.ndarray:
    """``x * factor + shift`` on the selected features (shift in sd units by default; deterministic)."""
    p = get_params(ctx, ValueShiftParams)
    x = as_float_array(inputs, 2, "value_shift")
    cols = feature_indices(p.features, ctx.feature_names, x.shape[1])
    if p.shift is None and ctx.severity is None and p.factor != 1.0:
        shift = 0.0  # a pure rescaling
    else:
        shift = strength(p.shift, ctx.severity, SHIFT_SEVERITY, "value_shift", "shift")
    if p.units == "sd":
        stats = require_stats(ctx, "value_shift", x.shape[1])
        offset = shift * np.nan_to_num(np.asarray(stats.sd, dtype=np.float64)[cols], nan=0.0)
    else:
        offset = np.full(len(cols), shift)
    x[:, cols] = (x[:, cols].astype(np.float64) * p.factor + offset).astype(x.dtype)
    return x


def missingness(inputs: np.ndarray, ctx: PerturbContext) -> np.ndarray:
    """Set each selected cell to NaN with probability ``rate``."""
    p = get_params(ctx, MissingnessParams)
    x = as_float_array(inputs, 2, "missingness")
    check_seeds(x, ctx)
    cols = feature_indices(p.features, ctx.feature_names, x.shape[1])
    rate = strength(p.rate, ctx.severity, MISSING_SEVERITY, "missingness", "rate")
    u = per_example(ctx.seeds, lambda rng: rng.random(len(cols)))
    block = x[:, cols]
    block[u < rate] = np.nan
    x[:, cols] = block
    return x


def register_tabular_perturbations(register: Callable[[PerturbationSpec], None]) -> None:
    """Register the built-in tabular perturbations."""
    register(
        PerturbationSpec(
            name="gaussian_noise_tabular",
            apply=gaussian_noise_tabular,
            modality="tabular",
            doc="Gaussian noise scaled to each feature's dataset sd (scale 0.1-0.8 sd over severities 1-5).",
            params=GaussianNoiseParams,
            severities=SEVERITIES,
            needs_feature_stats=True,
        )
    )
    register(
        PerturbationSpec(
            name="feature_ablation",
            apply=feature_ablation,
            modality="tabular",
            doc="Ablate the named features: set them to the dataset mean, zero, or missing (NaN).",
            params=FeatureAblationParams,
            needs_feature_stats=True,
        )
    )
    register(
        PerturbationSpec(
            name="categorical_swap",
            apply=categorical_swap,
            modality="tabular",
            doc="Replace integer-coded categories, at a rate, by another category drawn uniformly "
            "from the given categories or the observed range.",
            params=CategoricalSwapParams,
            severities=SEVERITIES,
            needs_feature_stats=True,
        )
    )
    register(
        PerturbationSpec(
            name="value_shift",
            apply=value_shift,
            modality="tabular",
            doc="Shift (x + k sd) and/or rescale (x * factor) the named features.",
            params=ValueShiftParams,
            severities=SEVERITIES,
            needs_feature_stats=True,
        )
    )
    register(
        PerturbationSpec(
            name="missingness",
            apply=missingness,
            modality="tabular",
            doc="Set cells of the named features to missing (NaN) at a rate.",
            params=MissingnessParams,
            severities=SEVERITIES,
        )
    )
