"""The per-metric statistics of one unit from its prediction set (docs/methods.md §11, §14, §15).

:func:`unit_signals` turns a unit's predictions into :class:`~.signal.MetricStats`
for every metric of the unit: recipe-based or generic bootstrap replicates
(:mod:`.resample`), the noise covariance, systematic sd, multi-bootstrap CIs,
corrected sd ratio, the excess test and the degraded test.

Pairing with the reference (iid) row:

- a whole test on the reference's examples (same ids in the same order)
  resamples the same example indices as the reference, so ``test - iid``
  replicate differences are paired;
- a stratum of the reference's own data (a stratified test on the iid
  dataset) is part of the reference: its difference from the reference is
  ``(1 - f)(stratum - rest)``. Strata are resampled within themselves, so the
  reference replicate is the size-weighted sum of the strata replicates
  (:func:`strata_degraded`), which makes the comparison paired exactly;
- otherwise the two sides are resampled independently (conservative when they
  share examples, since shared examples correlate positively).

The excess test's cross-covariance is computed from the shared examples
(additive metrics; :func:`uspec_audit.stats.noise.cross_noise_cov`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats import bootstrap as boot
from uspec_audit.stats import noise
from uspec_audit.stats.plan import TestPlan
from uspec_audit.stats.resample import (
    GENERIC_CALL_BUDGET,
    GENERIC_REPLICATES,
    AucResampler,
    Recipe,
    generic_replicates,
    recipe,
    replicate_values,
)
from uspec_audit.stats.seeding import rng_for
from uspec_audit.stats.settings import AnalysisSettings
from uspec_audit.stats.signal import (
    NAN2,
    MetricStats,
    RefMetric,
    corrected_ratio,
    degraded_test,
    excess_against_ref,
    ratio_ci,
    replicate_stats,
)

__all__ = ["UnitContext", "unit_signals", "strata_degraded", "REF_ROWS_CAP"]

REF_ROWS_CAP = (
    25_000_000  # per-example values kept from the reference for cross-covariances (float32 elements)
)


@dataclass
class UnitContext:
    """One prediction set being analysed, and how it pairs with the reference."""

    state: Any  # EnsembleState (units.py); Any avoids an import cycle
    ps: PredictionSet
    test: TestPlan
    variant: str
    values: dict[tuple[str, str, str, str], np.ndarray]
    settings: AnalysisSettings
    seed: int
    paired: bool  # same example ids, same order as the reference
    same_as_ref: bool  # ... and the same predictions: this is the reference's data
    labels: np.ndarray | None  # stratum label per example, for a stratified test
    generic_calls: int = 0
    whole: dict[str, np.ndarray] = field(default_factory=dict)  # reference mean replicates from strata

    def stream(self, stratum: str, cols: np.ndarray | None) -> tuple[str, ...]:
        """Names of the example-resampling stream of a unit (the reference's when paired)."""
        plan = self.state.plan
        if cols is None and self.paired and self.labels is None:
            return ("multiboot-examples", plan.name, plan.reference)
        return ("multiboot-examples", plan.name, self.test.name, self.variant, stratum)


def _agrees(mine: np.ndarray, table: np.ndarray) -> bool:
    ok = ~np.isnan(table)
    return bool(ok.any()) and bool(np.allclose(mine[ok], table[ok], rtol=1e-6, atol=1e-9, equal_nan=True))


def _replicate_cov(reps: np.ndarray | None) -> np.ndarray | None:
    """Covariance over replicates of the member columns (members without any finite value stay NaN)."""
    if reps is None:
        return None
    cols = np.isfinite(reps).any(axis=0)
    good = reps[:, cols]
    good = good[np.isfinite(good).all(axis=1)]
    if good.shape[0] < 2 or not cols.any():
        return None
    out = np.full((reps.shape[1], reps.shape[1]), np.nan)
    out[np.ix_(cols, cols)] = np.atleast_2d(np.cov(good, rowvar=False))
    return out


def _builtin_function(name: str):
    """The built-in metric of that name (metric names are unique across plugins), or None."""
    from uspec_audit.metrics.registry import BUILTIN_METRICS

    return next((spec.fn for spec in BUILTIN_METRICS if spec.name == name), None)


def _generic(
    ctx: UnitContext,
    name: str,
    cols: np.ndarray | None,
    table: np.ndarray,
    stream: tuple[str, ...],
    strata: np.ndarray | None,
    ms: MetricStats,
) -> np.ndarray | None:
    """Bootstrap replicates of a metric without a recipe, by its own function (within the call budget)."""
    ps = ctx.ps
    m = ps.outputs.shape[0]
    b = min(ctx.settings.bootstrap, GENERIC_REPLICATES)
    if name == "auc" and ps.is_classification and np.asarray(ps.outputs).ndim == 3 and b >= 2:
        resampler = AucResampler(ps, cols)
        if not _agrees(resampler.plain(), table):
            ms.notes.append("metric 'auc' recomputed from the predictions differs from metrics.parquet")
            return None
        ms.checked = True
        return resampler.replicates(b, rng_for(ctx.seed, *stream, "generic"), strata)
    fn = ctx.state.metric_functions.get(name) or _builtin_function(name)
    if fn is None:
        ms.notes.append(
            f"no per-example resampling for metric '{name}' (its function was not given to the analysis)"
        )
        return None
    if b < 2:
        ms.notes.append("bootstrap = 0: no resampling")
        return None
    if ctx.generic_calls + (b + 1) * m > GENERIC_CALL_BUDGET:
        ms.notes.append(f"not resampled: the budget of {GENERIC_CALL_BUDGET} metric calls per test is spent")
        return None
    target = np.asarray(ps.target if cols is None else ps.target[cols])
    target = target.astype(np.int64) if ps.is_classification else target
    outputs = np.asarray(ps.outputs if cols is None else ps.outputs[:, cols], dtype=np.float64)
    with np.errstate(all="ignore"):
        mine = np.array([fn(target, outputs[j], ps.task) for j in range(m)], dtype=np.float64)
    ctx.generic_calls += (b + 1) * m
    if not _agrees(mine, table):
        ms.notes.append(f"metric '{name}' recomputed from the predictions differs from metrics.parquet")
        return None
    ms.checked = True
    return generic_replicates(fn, ps, cols, b, rng_for(ctx.seed, *stream, "generic"), strata)


def _cross_cov(
    ctx: UnitContext, r: Recipe, cols: np.ndarray | None, ref: RefMetric, n_u: int
) -> np.ndarray | None:
    """Cov(iid member values, this unit's member values) from the shared examples (additive metrics)."""
    assert r.rows is not None  # an additive recipe carries its per-example rows
    if ctx.same_as_ref:
        return noise.cross_noise_cov(r.rows, r.rows, ref.n, n_u)
    state = ctx.state
    if ref.rows is None or state.ref_ids is None:
        return None
    ids = np.asarray(ctx.ps.ids) if cols is None else np.asarray(ctx.ps.ids)[cols]
    if ctx.paired:
        ia, ib = (np.arange(n_u) if cols is None else cols), np.arange(n_u)
    else:
        _, ia, ib = np.intersect1d(state.ref_ids, ids, assume_unique=False, return_indices=True)
    if ia.size < 2:
        return None
    return noise.cross_noise_cov(ref.rows[:, ia].astype(np.float64), r.rows[:, ib], ref.n, n_u)


def _fill(
    ctx: UnitContext,
    ms: MetricStats,
    name: str,
    key: tuple[str, str, str],
    cols: np.ndarray | None,
    v: np.ndarray,
    cov: np.ndarray,
    reps: np.ndarray | None,
    r: Recipe | None,
    is_ref_unit: bool,
) -> None:
    state, settings = ctx.state, ctx.settings
    level = settings.ci_level
    additive = r is not None and r.additive
    n_u = ctx.ps.outputs.shape[1] if cols is None else int(cols.size)
    keep = np.isfinite(v) & np.isfinite(np.diag(cov))
    sub = cov[np.ix_(keep, keep)]
    if keep.sum() >= 2:
        ms.noise_sd = float(np.sqrt(noise.noise_var(sub)))
        ms.systematic_sd = float(np.sqrt(max(0.0, noise.systematic_var(v[keep], sub))))
    rp = None
    idx = state.member_idx
    if reps is not None and idx is not None and keep.all():
        rp = replicate_stats(reps, idx[: reps.shape[0]], cov)
        if additive:
            ms.boot_mean = boot.percentile_ci(rp.mean, level)
        ms.boot_sd = boot.percentile_ci(rp.sd, level)
    if is_ref_unit:
        rows = None
        if r is not None and r.additive and r.rows is not None and state.ref_ids is not None:
            size = r.rows.size
            used = sum(x.rows.size for x in state.ref.values() if x.rows is not None)
            if used + size <= REF_ROWS_CAP:
                rows = r.rows.astype(np.float32)
        state.ref[name] = RefMetric(
            np.asarray(v, dtype=np.float64).copy(), cov, ms.noise_sd, ms.systematic_sd, rp, rows, n_u
        )
    ref: RefMetric | None = state.ref.get(name)
    if ref is None:
        ms.notes.append(f"the reference test has no value of '{name}'")
        return
    ms.corrected = (
        corrected_ratio(ms.systematic_sd, ref),
        *(ratio_ci(rp, ref, level) if rp is not None else NAN2),
    )
    if rp is not None and ref.reps is not None and ref.reps.sd.shape == rp.sd.shape:
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = np.where(ref.reps.sd > 0, rp.sd / ref.reps.sd, np.nan)
        ms.boot_ratio = boot.percentile_ci(raw, level)
    if is_ref_unit:
        return
    ens = state.plan.name
    cross = _cross_cov(ctx, r, cols, ref, n_u) if r is not None and r.additive else None
    ms.excess = excess_against_ref(
        v,
        cov,
        cross,
        ref,
        settings.permutations,
        rng_for(ctx.seed, "excess", ens, *key, name),
        settings.max_carry_over_slope,
    )
    if ctx.same_as_ref and cols is not None and additive:
        if rp is not None:  # the reference is the sum of its strata: paired test after all strata (pass 2)
            ctx.whole[name] = ctx.whole.get(name, 0.0) + (n_u / ctx.ps.outputs.shape[1]) * rp.mean
        return
    if rp is not None and ref.reps is not None and ref.reps.mean.shape == rp.mean.shape:
        observed = float(np.nanmean(v) - np.nanmean(ref.values))
        hib = bool(state.higher_is_better.get(name, True))
        ms.degraded = degraded_test(rp.mean - ref.reps.mean, observed, hib, level, bias_correct=not additive)
    else:
        ms.notes.append("no multi-bootstrap replicates for the degraded test")


def unit_signals(ctx: UnitContext, stratum: str, cols: np.ndarray | None) -> dict[str, MetricStats]:
    """:class:`MetricStats` of every metric of one unit (whole test when ``cols`` is None, else a stratum)."""
    state, ps, settings = ctx.state, ctx.ps, ctx.settings
    key = (ctx.test.name, ctx.variant, stratum)
    names = sorted(k[3] for k in ctx.values if k[:3] == key)
    m = len(state.plan.members)
    n_u = ps.outputs.shape[1] if cols is None else int(cols.size)
    is_ref_unit = ctx.test.name == state.plan.reference and ctx.variant == "none" and stratum == "all"
    stream = ctx.stream(stratum, cols)
    strata = ctx.labels if cols is None else None
    recipes: dict[str, Recipe] = {}
    for name in names:
        r = recipe(ps, name, cols)
        if r is not None and _agrees(r.values(), ctx.values[(*key, name)]):
            recipes[name] = r
    reps_by_name: dict[str, np.ndarray] = {}
    if recipes and settings.bootstrap > 0 and m >= 2 and n_u > 0:
        all_reps = replicate_values(
            list(recipes.values()), n_u, settings.bootstrap, rng_for(ctx.seed, *stream), strata
        )
        reps_by_name = dict(zip(recipes, all_reps, strict=True))
    out: dict[str, MetricStats] = {}
    for name in names:
        ms = MetricStats()
        out[name] = ms
        v = np.asarray(ctx.values[(*key, name)], dtype=np.float64)
        r = recipes.get(name)
        reps = reps_by_name.get(name)
        ms.checked = r is not None
        if m < 2 or n_u < 2:
            ms.notes.append("fewer than 2 members" if m < 2 else "fewer than 2 examples")
            continue
        if r is not None:
            cov = noise.mean_noise_cov(r.rows) if r.additive and r.rows is not None else _replicate_cov(reps)
            if cov is None:
                ms.notes.append("bootstrap = 0: no noise estimate for a non-additive metric")
        else:
            if recipe(ps, name, cols) is not None:
                ms.notes.append(
                    f"metric '{name}' recomputed from the predictions differs from metrics.parquet"
                )
                continue
            reps = _generic(ctx, name, cols, v, stream, strata, ms)
            cov = _replicate_cov(reps)
        if cov is None:
            continue
        _fill(ctx, ms, name, key, cols, v, cov, reps, r, is_ref_unit)
    return out


def strata_degraded(ctx: UnitContext, strata: list[tuple[str, np.ndarray]]) -> None:
    """Paired ``stratum - iid`` tests for the strata of the reference's own data (additive metrics).

    The reference replicates are the size-weighted sums of the strata
    replicates accumulated by :func:`unit_signals`; each stratum's replicates
    are drawn again from the same stream (identical draws), so memory stays
    bounded by one stratum.
    """
    state, settings = ctx.state, ctx.settings
    idx = state.member_idx
    if not ctx.whole or idx is None:
        return
    for stratum, cols in strata:
        key = (ctx.test.name, ctx.variant, stratum)
        us = state.units.get(key)
        if us is None:
            continue
        names = [n for n in sorted(ctx.whole) if n in us.metrics]
        found = [recipe(ctx.ps, n, cols) for n in names]
        recipes = [r for r in found if r is not None]
        if not names or len(recipes) != len(names):
            continue
        all_reps = replicate_values(
            recipes, int(cols.size), settings.bootstrap, rng_for(ctx.seed, *ctx.stream(stratum, cols))
        )
        for name, reps in zip(names, all_reps, strict=True):
            ms = us.metrics[name]
            ref = state.ref.get(name)
            if ref is None:
                continue
            mean_b, _ = boot.replicate_mean_sd(reps, idx[: reps.shape[0]])
            v = ctx.values[(*key, name)]
            observed = float(np.nanmean(v) - np.nanmean(ref.values))
            hib = bool(state.higher_is_better.get(name, True))
            ms.degraded = degraded_test(mean_b - ctx.whole[name], observed, hib, settings.ci_level, False)
