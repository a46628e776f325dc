"""Built-in sequence (health-record) perturbations: the interventions of UP §8.

Inputs are floating arrays ``(B, T, F)``: ``B`` patients, ``T`` time steps
(e.g. 6-hour buckets), ``F`` features named in ``PerturbContext.feature_names``.
Both perturbations are deterministic (no randomness), so they are trivially
independent of batch composition.

``time_shift``
    Shifts every time step's time-of-day (or timestamp) by a fixed offset of
    buckets, as in D'Amour et al. (2020) §8: "shifts the patient timeseries by
    a fixed offset". The time is either one numeric column (``time_feature``;
    wrapped modulo ``period`` when given, e.g. 24 hours or 4 six-hour buckets
    numbered from ``first``) or a block of one-hot bucket columns
    (``onehot_features``, rolled by ``offset`` positions). NaN time values, and
    time steps whose value equals ``skip_value`` (padding), are left as they are.

``feature_subset``
    Keeps only a named subset of features (e.g. the basic metabolic panel
    CHEM-7: creatinine, sodium, potassium, urea nitrogen, CO2, chloride,
    glucose) among a candidate group (e.g. all lab features; default every
    feature); the other candidates are set to missing (NaN), zero or the
    dataset mean. Features outside ``among`` (demographics, the time column)
    are untouched.

The paper's two stress tests, for 6-hour buckets numbered 1-4 in a column
``time_of_day`` (audit-file params)::

    time_shift:      { time_feature = "time_of_day", offset = 1, period = 4, first = 1 }
    feature_subset:  { keep = ["creatinine", "sodium", "potassium", "urea_nitrogen", "co2",
                               "chloride", "glucose"], among = [...all lab features...] }
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from uspec_audit.components import PerturbationSpec, PerturbContext
from uspec_audit.perturb.tabular import as_float_array, feature_indices, get_params, require_stats


class TimeShiftParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_feature: str | None = Field(
        default="time_of_day",
        description="Name of the numeric time-of-day / timestamp bucket column (ignored when onehot_features is set).",
    )
    onehot_features: list[str] | None = Field(
        default=None,
        description="Alternatively, the one-hot time-of-day bucket columns in time order; they are rolled "
        "by `offset` positions (cyclically).",
    )
    offset: int = Field(default=1, description="Number of time buckets to shift by (negative: earlier).")
    period: float | None = Field(
        default=None,
        gt=0,
        description="Wrap the shifted value modulo `period` (e.g. 24 for hours of the day, 4 for 6-hour "
        "buckets); None: no wrapping (absolute timestamps).",
    )
    first: float = Field(
        default=0.0,
        description="Value of the first bucket when wrapping: values live in [first, first + period).",
    )
    bucket: float = Field(default=1.0, gt=0, description="Size of one bucket in the column's units.")
    skip_value: float | None = Field(
        default=None, description="A time value marking padding steps, left unshifted (NaN is always left)."
    )

    @model_validator(mode="after")
    def _one_time_encoding(self) -> TimeShiftParams:
        if self.onehot_features is None and self.time_feature is None:
            raise ValueError("give time_feature or onehot_features")
        if self.onehot_features is not None and len(self.onehot_features) < 2:
            raise ValueError("onehot_features needs at least two bucket columns")
        return self


class FeatureSubsetParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep: list[str] = Field(
        min_length=1, description="Features to keep (e.g. a lab panel); the other candidates are removed."
    )
    among: list[str] | None = Field(
        default=None,
        description="Candidate features subject to removal (e.g. all lab tests); None: every feature. "
        "Features outside this list are untouched.",
    )
    fill: Literal["nan", "zero", "mean"] = Field(
        default="nan", description="What removed features become: missing (NaN), 0, or the dataset mean."
    )


def time_shift(inputs: np.ndarray, ctx: PerturbContext) -> np.ndarray:
    """Shift the time-of-day of every time step by ``offset`` buckets (wrapping modulo ``period``)."""
    p = get_params(ctx, TimeShiftParams)
    x = as_float_array(inputs, 3, "time_shift")
    n_features = x.shape[2]
    if p.onehot_features is not None:
        cols = feature_indices(p.onehot_features, ctx.feature_names, n_features, what="onehot_features")
        x[:, :, cols] = np.roll(x[:, :, cols], p.offset, axis=2)
        return x
    assert p.time_feature is not None  # the params' validator requires it without onehot_features
    (col,) = feature_indices([p.time_feature], ctx.feature_names, n_features, what="time_feature")
    t = x[:, :, col].astype(np.float64)
    shifted = t + p.offset * p.bucket
    if p.period is not None:
        shifted = np.mod(shifted - p.first, p.period) + p.first
    keep = np.isnan(t)
    if p.skip_value is not None:
        keep |= t == p.skip_value
    x[:, :, col] = np.where(keep, t, shifted).astype(x.dtype)
    return x


def feature_subset(inputs: np.ndarray, ctx: PerturbContext) -> np.ndarray:
    """Keep only the ``keep`` features among ``among``; fill the others with NaN, 0 or the mean."""
    p = get_params(ctx, FeatureSubsetParams)
    x = as_float_array(inputs, 3, "feature_subset")
    n_features = x.shape[2]
    keep = feature_indices(p.keep, ctx.feature_names, n_features, what="keep")
    among = feature_indices(p.among, ctx.feature_names, n_features, what="among")
    outside = sorted(set(keep.tolist()) - set(among.tolist()))
    if outside:
        names = [ctx.feature_names[i] for i in outside] if ctx.feature_names else outside
        raise ValueError(f"feature_subset: keep lists {names} which are not among the candidate features")
    drop = np.setdiff1d(among, keep)
    if p.fill == "mean":
        stats = require_stats(ctx, "feature_subset", n_features)
        x[:, :, drop] = np.asarray(stats.mean, dtype=np.float64)[drop].astype(x.dtype)
    else:
        x[:, :, drop] = 0.0 if p.fill == "zero" else np.nan
    return x


def register_sequence_perturbations(register: Callable[[PerturbationSpec], None]) -> None:
    """Register the built-in sequence perturbations."""
    source = "D'Amour et al. (2020), Underspecification Presents Challenges..., §8"
    register(
        PerturbationSpec(
            name="time_shift",
            apply=time_shift,
            modality="sequence",
            doc="Shift every time step's time-of-day bucket by a fixed offset (wrapping modulo a period).",
            source=source,
            params=TimeShiftParams,
        )
    )
    register(
        PerturbationSpec(
            name="feature_subset",
            apply=feature_subset,
            modality="sequence",
            doc="Keep only a named subset of features (e.g. a lab panel); the others become missing, 0 or the mean.",
            source=source,
            params=FeatureSubsetParams,
            needs_feature_stats=True,
        )
    )
