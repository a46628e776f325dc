"""Example-level statistics of one ``(ensemble, test, variant)`` prediction set.

:func:`example_level` computes, for the whole test and each stratum, the
permutation p-value, disagreement, REx risks, the per-metric signal and noise
statistics and verdict tests (:mod:`.unit_signals`), jackknife SEs,
calibration rows, PCA and the marginalization curve, and stores the small
per-unit results in an :class:`EnsembleState` so the prediction set can be
dropped right away.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uspec_audit.results.catalog import column_names
from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats import bootstrap as boot
from uspec_audit.stats import disagreement as dis
from uspec_audit.stats import jackknife as jk
from uspec_audit.stats import permutation as perm
from uspec_audit.stats.examples import ADDITIVE, binary_auc, per_example, risk_matrix
from uspec_audit.stats.plan import EnsemblePlan, TestPlan
from uspec_audit.stats.seeding import rng_for
from uspec_audit.stats.settings import AnalysisSettings
from uspec_audit.stats.signal import MetricStats, RefMetric
from uspec_audit.stats.tables import Block
from uspec_audit.stats.unit_rows import calibration_rows, marginalization_rows, pca_rows
from uspec_audit.stats.unit_signals import UnitContext, strata_degraded, unit_signals

__all__ = ["EnsembleState", "UnitStats", "Unit", "example_level", "stratum_labels"]

Unit = tuple[str, str, str]  # (test, variant, stratum)
# The statistic columns of the disagreement table (after ensemble, test, variant, stratum).
DISAGREEMENT_STATISTICS = tuple(column_names("disagreement")[4:])


def stratum_labels(attributes: dict[str, np.ndarray], by: tuple[str, ...]) -> np.ndarray:
    """Per-example stratum label ``"a=x"`` (``"a=x;b=y"`` for several attributes)."""
    parts = [np.char.add(f"{a}=", np.asarray(attributes[a]).astype(str)) for a in by]
    out = parts[0]
    for p in parts[1:]:
        out = np.char.add(np.char.add(out, ";"), p)
    return out.astype(object)


@dataclass
class UnitStats:
    n: int = 0
    perm_p: float = float("nan")
    disagreement: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, MetricStats] = field(default_factory=dict)
    jack: dict[str, tuple[float, float]] = field(default_factory=dict)  # metric -> (sd, se)
    risks: np.ndarray = field(default_factory=lambda: np.empty(0))  # (M,) member REx risk, set with the unit


@dataclass
class EnsembleState:
    plan: EnsemblePlan
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    metric_functions: dict[str, Callable[..., float]] = field(default_factory=dict)
    ref_ids: np.ndarray | None = None
    ref_digest: bytes | None = None
    ref_accuracy: np.ndarray | None = None  # (M,) marginalization metric on ref, from predictions
    baseline: int | None = None
    member_idx: np.ndarray | None = None  # (B, M) resampled members, shared by every unit
    ref: dict[str, RefMetric] = field(default_factory=dict)
    ref_jack: dict[str, tuple[float, float]] = field(default_factory=dict)
    units: dict[Unit, UnitStats] = field(default_factory=dict)
    rex_risk: str = "nll"
    notes: list[str] = field(default_factory=list)


def _perm_matrix(ps: PredictionSet) -> np.ndarray:
    if ps.is_classification:
        return ps.correct
    return (np.asarray(ps.outputs, dtype=np.float64) - np.asarray(ps.target, dtype=np.float64)[None, :]) ** 2


def _digest(ps: PredictionSet) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(np.ascontiguousarray(ps.ids).astype(str).astype(bytes).tobytes())
    h.update(np.ascontiguousarray(ps.outputs).tobytes())
    return h.digest()


def _disagreement_stats(ps: PredictionSet, cols: np.ndarray | None, baseline: int | None) -> dict[str, float]:
    nan = float("nan")
    out = dict.fromkeys(DISAGREEMENT_STATISTICS, nan)
    tp = ps.true_prob if cols is None else ps.true_prob[:, cols]
    if ps.is_classification:
        lab = ps.pred_label if cols is None else ps.pred_label[:, cols]
        out["disagreement"] = dis.pairwise_disagreement(lab)
        if lab.shape[1]:
            out["mean_vote_entropy"] = float(dis.vote_entropy(lab).mean())
        if baseline is not None:
            out["ambiguity"] = dis.ambiguity(lab, baseline)
            out["discrepancy"] = dis.discrepancy(lab, baseline)
        s, _, _ = dis.sensitivity_ratio(tp, np.ones(tp.shape[1]))
        risk = float(((1.0 - tp.astype(np.float64)) ** 2).mean()) if tp.size else nan
        out["sensitivity"] = s
        out["sensitivity_ratio"] = s / risk if np.isfinite(s) and risk > 0 else nan
    else:
        y = ps.target if cols is None else ps.target[cols]
        s, _, ratio = dis.sensitivity_ratio(tp, y)
        out["sensitivity"], out["sensitivity_ratio"] = s, ratio
    return out


def _jackknife(
    state: EnsembleState,
    ps: PredictionSet,
    key: Unit,
    cols: np.ndarray | None,
    us: UnitStats,
    values: dict[tuple[str, str, str, str], np.ndarray],
    settings: AnalysisSettings,
    seed: int,
    is_ref_unit: bool,
) -> None:
    """Jackknife SE of the sd across members (additive metrics; a binary AUC), UP §6.1's comparison."""
    m = len(state.plan.members)
    if m < 2 or us.n < 2:
        return
    ens = state.plan.name
    for name in sorted(us.metrics):
        if name not in ADDITIVE or not us.metrics[name].checked:
            continue
        x = per_example(ps, name)
        assert x is not None  # a checked additive metric has per-example values
        s_full, se, _ = jk.jackknife_sd_additive(
            x if cols is None else x[:, cols],
            settings.jackknife_blocks,
            rng_for(seed, "jackknife-blocks", ens, *key),
        )
        us.jack[name] = (s_full, se)
        if is_ref_unit:
            state.ref_jack[name] = (s_full, se)
    table_auc = values.get((*key, "auc"))
    if ps.task == "binary" and table_auc is not None and ps.outputs.ndim == 3:
        sc = ps.outputs[..., 1] if cols is None else ps.outputs[:, cols, 1]
        yy = ps.target if cols is None else ps.target[cols]
        mine = binary_auc(sc, yy)
        ok = ~np.isnan(table_auc)
        if ok.any() and np.allclose(mine[ok], table_auc[ok], rtol=1e-6, atol=1e-9, equal_nan=True):
            lab_j, g = jk.block_labels(
                us.n, settings.jackknife_blocks, rng_for(seed, "jackknife-blocks", ens, *key)
            )

            def _sd_auc(keep: np.ndarray, sc: np.ndarray = sc, yy: np.ndarray = yy) -> float:
                return float(np.std(binary_auc(sc[:, keep], yy[keep]), ddof=1))

            us.jack["auc"] = (float(np.std(mine, ddof=1)), jk.jackknife_se(_sd_auc, lab_j, g))
            if is_ref_unit:
                state.ref_jack["auc"] = us.jack["auc"]


def example_level(
    state: EnsembleState,
    test: TestPlan,
    variant: str,
    ps: PredictionSet,
    values: dict[tuple[str, str, str, str], np.ndarray],
    settings: AnalysisSettings,
    seed: int,
    rows: dict[str, list[dict[str, Any] | Block]],
) -> None:
    """Every example-level statistic of one prediction set, into ``state`` (per unit) and ``rows`` (tables).

    The whole test and each of its strata is a unit; the reference (iid) prediction set also records what
    later units are compared with. ``values`` are the per-member metric values of ``metrics.parquet``.
    """
    members = list(state.plan.members)
    _align_members(ps, members)
    is_ref = test.name == state.plan.reference and variant == "none"
    if is_ref:
        _record_reference(state, ps)
    if state.member_idx is None and settings.bootstrap > 0 and len(members) >= 2:
        state.member_idx = boot.member_indices(
            len(members), settings.bootstrap, rng_for(seed, "multiboot-members", state.plan.name)
        )
    labels, units = _units(ps, test)
    ctx = _unit_context(state, ps, test, variant, values, settings, seed, labels, is_ref)
    cmat = _perm_matrix(ps)
    risk_x = risk_matrix(ps, state.rex_risk)
    for stratum, cols in units:
        key = (test.name, variant, stratum)
        state.units[key] = _unit_stats(ctx, key, cols, cmat, risk_x, rows, is_ref and stratum == "all")
        calibration_rows(ps, members, stratum, cols, settings.calibration_bins, rows)
    if ctx.same_as_ref and labels is not None:
        strata_degraded(ctx, [(s, c) for s, c in units if c is not None])
    pca_rows(ps, members, settings, rows)
    marginalization_rows(ps, members, state.ref_accuracy, settings, seed, rows)


def _align_members(ps: PredictionSet, members: list[str]) -> None:
    """Put the prediction set's members in the plan's order (their outputs with them)."""
    if list(ps.members) != members:
        order = [list(ps.members).index(m) for m in members]
        ps.outputs = np.asarray(ps.outputs)[order]
        ps.members = members


def _record_reference(state: EnsembleState, ps: PredictionSet) -> None:
    """What later units are compared with: the reference's ids and digest, each member's marginalization
    metric on it (accuracy, or mse for regression) and the best member there (the disagreement baseline)."""
    state.ref_ids = np.asarray(ps.ids)
    state.ref_digest = _digest(ps)
    if ps.is_classification:
        member_values = ps.correct.mean(axis=1)
    else:
        member_values = ((ps.outputs - ps.target[None, :]) ** 2).mean(axis=1)
    state.ref_accuracy = member_values.astype(np.float64)
    best = np.nanargmax(member_values) if ps.is_classification else np.nanargmin(member_values)
    state.baseline = int(best)


def _units(
    ps: PredictionSet, test: TestPlan
) -> tuple[np.ndarray | None, list[tuple[str, np.ndarray | None]]]:
    """Per-example stratum labels (None without ``by``) and the units: ``("all", None)``, then each stratum
    in sorted order with the indices of its examples."""
    units: list[tuple[str, np.ndarray | None]] = [("all", None)]
    if not test.by:
        return None, units
    labels = stratum_labels(ps.attributes, test.by)
    for label in sorted(set(labels.tolist())):
        units.append((label, np.flatnonzero(labels == label)))
    return labels, units


def _unit_context(
    state: EnsembleState,
    ps: PredictionSet,
    test: TestPlan,
    variant: str,
    values: dict[tuple[str, str, str, str], np.ndarray],
    settings: AnalysisSettings,
    seed: int,
    labels: np.ndarray | None,
    is_ref: bool,
) -> UnitContext:
    """The prediction set's context for :func:`unit_signals`, with how it pairs with the reference: the same
    examples in the same order (``paired``), or the very same predictions (``same_as_ref``)."""
    ids = np.asarray(ps.ids)
    paired = (
        state.ref_ids is not None
        and state.ref_ids.shape == ids.shape
        and bool(np.array_equal(state.ref_ids, ids))
    )
    same_as_ref = is_ref or (paired and state.ref_digest is not None and _digest(ps) == state.ref_digest)
    return UnitContext(
        state=state,
        ps=ps,
        test=test,
        variant=variant,
        values=values,
        settings=settings,
        seed=seed,
        paired=paired,
        same_as_ref=same_as_ref,
        labels=labels,
    )


def _permutation_p(
    cmat: np.ndarray,
    n: int,
    cols: np.ndarray | None,
    settings: AnalysisSettings,
    seed: int,
    ens: str,
    key: Unit,
) -> float:
    """Do the members differ at all on this unit? The systematic-variation test on the whole test, the
    strata shuffle on a stratum (docs/methods.md §4)."""
    if cols is None:
        rng = rng_for(seed, "systematic-variation", ens, *key)
        return perm.systematic_variation(cmat, settings.permutations, rng, chunk=settings.chunk_size).p_value
    mask = np.zeros(n, dtype=bool)
    mask[cols] = True
    return perm.strata_shuffle(
        cmat, mask, settings.permutations, rng_for(seed, "strata-shuffle", ens, *key)
    ).p_value


def _unit_stats(
    ctx: UnitContext,
    key: Unit,
    cols: np.ndarray | None,
    cmat: np.ndarray,
    risk_x: np.ndarray,
    rows: dict[str, list[dict[str, Any] | Block]],
    is_ref_unit: bool,
) -> UnitStats:
    """One unit (the whole test when ``cols`` is None, else a stratum): permutation p, disagreement (also a
    row of the disagreement table), member REx risks, per-metric signal and noise, jackknife SEs."""
    state, ps, settings = ctx.state, ctx.ps, ctx.settings
    ens = state.plan.name
    m, n = len(state.plan.members), int(np.asarray(ps.ids).shape[0])
    test, variant, stratum = key
    us = UnitStats(n=n if cols is None else int(cols.size))
    if settings.permutations > 0 and m >= 2:
        us.perm_p = _permutation_p(cmat, n, cols, settings, ctx.seed, ens, key)
    us.disagreement = _disagreement_stats(ps, cols, state.baseline)
    rows["disagreement"].append(
        {"ensemble": ens, "test": test, "variant": variant, "stratum": stratum, **us.disagreement}
    )
    us.risks = risk_x.mean(axis=1) if cols is None else risk_x[:, cols].mean(axis=1)
    us.metrics = unit_signals(ctx, stratum, cols)
    _jackknife(state, ps, key, cols, us, ctx.values, settings, ctx.seed, is_ref_unit)
    return us
