"""Example-level statistics of one ``(ensemble, test, variant)`` prediction set.

:func:`example_level` computes, for the whole test and each stratum, the
permutation p-value, disagreement, REx risks, multi-bootstrap CIs and
jackknife SEs of the additive metrics, calibration rows, PCA and the
marginalization curve, and stores the small per-unit results in an
:class:`EnsembleState` so the prediction set can be dropped right away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats import bootstrap as boot
from uspec_audit.stats import calibration as cal
from uspec_audit.stats import disagreement as dis
from uspec_audit.stats import jackknife as jk
from uspec_audit.stats import marginalize as marg
from uspec_audit.stats import pca as pca_mod
from uspec_audit.stats import permutation as perm
from uspec_audit.stats.examples import ADDITIVE, binary_auc, per_example, risk_matrix
from uspec_audit.stats.plan import EnsemblePlan, TestPlan
from uspec_audit.stats.seeding import rng_for
from uspec_audit.stats.settings import AnalysisSettings
from uspec_audit.stats.tables import Block

__all__ = ["EnsembleState", "UnitStats", "Unit", "example_level", "stratum_labels"]

Unit = tuple[str, str, str]  # (test, variant, stratum)


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
    boot_mean: dict[str, tuple[float, float]] = field(default_factory=dict)
    boot_sd: dict[str, tuple[float, float]] = field(default_factory=dict)
    boot_ratio: dict[str, tuple[float, float]] = field(default_factory=dict)
    jack: dict[str, tuple[float, float]] = field(default_factory=dict)  # metric -> (sd, se)
    risks: np.ndarray | None = None  # (M,) member REx risk


@dataclass
class EnsembleState:
    plan: EnsemblePlan
    ref_ids: np.ndarray | None = None
    ref_accuracy: np.ndarray | None = None  # (M,) marginalization metric on ref, from predictions
    baseline: int | None = None
    ref_sd_reps: dict[str, np.ndarray] = field(default_factory=dict)
    ref_jack: dict[str, tuple[float, float]] = field(default_factory=dict)
    units: dict[Unit, UnitStats] = field(default_factory=dict)
    rex_risk: str = "nll"


def _additive_ok(x: np.ndarray, table: np.ndarray | None) -> bool:
    """Member means of ``x`` agree with the metrics table (where it has values)."""
    if table is None:
        return False
    return _additive_ok_values(x.mean(axis=1), table)


def _additive_ok_values(mine: np.ndarray, table: np.ndarray) -> bool:
    """Recomputed member values agree with the metrics table (where it has values)."""
    ok = ~np.isnan(table)
    if not ok.any():
        return False
    return bool(np.allclose(mine[ok], table[ok], rtol=1e-6, atol=1e-9, equal_nan=True))


def _perm_matrix(ps: PredictionSet) -> np.ndarray:
    if ps.is_classification:
        return ps.correct
    return (np.asarray(ps.outputs, dtype=np.float64) - np.asarray(ps.target, dtype=np.float64)[None, :]) ** 2


def _disagreement_stats(ps: PredictionSet, cols: np.ndarray | None, baseline: int | None) -> dict[str, float]:
    nan = float("nan")
    out = dict.fromkeys(
        ("disagreement", "ambiguity", "discrepancy", "mean_vote_entropy", "sensitivity", "sensitivity_ratio"),
        nan,
    )
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
    ep = state.plan
    ens = ep.name
    members = list(ep.members)
    if list(ps.members) != members:
        order = [list(ps.members).index(m) for m in members]
        ps.outputs = np.asarray(ps.outputs)[order]
        ps.members = members
    m, n = len(members), int(np.asarray(ps.ids).shape[0])
    is_ref = test.name == ep.reference and variant == "none"
    cls = ps.is_classification
    marg_metric = "accuracy" if cls else "mse"
    if is_ref:
        state.ref_ids = np.asarray(ps.ids)
        mv = ps.correct.mean(axis=1) if cls else ((ps.outputs - ps.target[None, :]) ** 2).mean(axis=1)
        state.ref_accuracy = mv.astype(np.float64)
        state.baseline = int(np.nanargmax(mv)) if cls else int(np.nanargmin(mv))

    # strata
    units: list[tuple[str, np.ndarray | None]] = [("all", None)]
    labels = None
    if test.by:
        labels = stratum_labels(ps.attributes, test.by)
        for lab in sorted(set(labels.tolist())):
            units.append((lab, np.flatnonzero(labels == lab)))

    cmat = _perm_matrix(ps)
    metric_names = sorted(
        {k[3] for k in values if k[0] == test.name and k[1] == variant and k[3] in ADDITIVE}
    )
    per_ex = {name: per_example(ps, name) for name in metric_names}
    risk_x = risk_matrix(ps, state.rex_risk)
    paired = (
        state.ref_ids is not None
        and state.ref_ids.shape == np.asarray(ps.ids).shape
        and bool(np.array_equal(state.ref_ids, np.asarray(ps.ids)))
    )
    midx = (
        boot.member_indices(m, settings.bootstrap, rng_for(seed, "multiboot-members", ens))
        if settings.bootstrap > 0 and m >= 2
        else None
    )

    for stratum, cols in units:
        us = UnitStats(n=n if cols is None else int(cols.size))
        key = (test.name, variant, stratum)
        # permutation test
        if settings.permutations > 0 and m >= 2:
            if cols is None:
                res = perm.systematic_variation(
                    cmat,
                    settings.permutations,
                    rng_for(seed, "systematic-variation", ens, *key),
                    chunk=settings.chunk_size,
                )
            else:
                mask = np.zeros(n, dtype=bool)
                mask[cols] = True
                res = perm.strata_shuffle(
                    cmat, mask, settings.permutations, rng_for(seed, "strata-shuffle", ens, *key)
                )
            us.perm_p = res.p_value
        # disagreement
        us.disagreement = _disagreement_stats(ps, cols, state.baseline)
        rows["disagreement"].append(
            {"ensemble": ens, "test": test.name, "variant": variant, "stratum": stratum, **us.disagreement}
        )
        # REx risk
        us.risks = risk_x.mean(axis=1) if cols is None else risk_x[:, cols].mean(axis=1)
        # multi-bootstrap and jackknife for additive metrics that match the metrics table
        ok = [
            name
            for name in metric_names
            if per_ex[name] is not None
            and _additive_ok(
                per_ex[name] if cols is None else per_ex[name][:, cols], values.get((*key, name))
            )
        ]
        if ok and us.n > 0:
            stack = np.vstack([per_ex[name] if cols is None else per_ex[name][:, cols] for name in ok])
            if midx is not None:
                if cols is None and paired and labels is None:
                    ex_name: tuple[str, ...] = ("multiboot-examples", ens, ep.reference)
                else:
                    ex_name = ("multiboot-examples", ens, *key)
                strata = labels if (cols is None and labels is not None) else None
                reps = boot.member_mean_replicates(stack, settings.bootstrap, rng_for(seed, *ex_name), strata)
                for j, name in enumerate(ok):
                    mean_r, sd_r = boot.replicate_mean_sd(reps[:, j * m : (j + 1) * m], midx)
                    us.boot_mean[name] = boot.percentile_ci(mean_r, settings.ci_level)
                    us.boot_sd[name] = boot.percentile_ci(sd_r, settings.ci_level)
                    if is_ref and stratum == "all":
                        state.ref_sd_reps[name] = sd_r
                    ref_sd = state.ref_sd_reps.get(name)
                    if ref_sd is not None:
                        with np.errstate(divide="ignore", invalid="ignore"):
                            ratio = np.where(ref_sd > 0, sd_r / ref_sd, np.nan)
                        us.boot_ratio[name] = boot.percentile_ci(ratio, settings.ci_level)
            if m >= 2:
                for j, name in enumerate(ok):
                    # same blocks for every metric of the unit
                    s_full, se, _ = jk.jackknife_sd_additive(
                        stack[j * m : (j + 1) * m],
                        settings.jackknife_blocks,
                        rng_for(seed, "jackknife-blocks", ens, *key),
                    )
                    us.jack[name] = (s_full, se)
                    if is_ref and stratum == "all":
                        state.ref_jack[name] = (s_full, se)
        # jackknife of the SD of a binary AUC (UP §6.1's comparison), when it matches the metrics table
        table_auc = values.get((*key, "auc"))
        if m >= 2 and ps.task == "binary" and table_auc is not None and ps.outputs.ndim == 3 and us.n >= 2:
            sc = ps.outputs[..., 1] if cols is None else ps.outputs[:, cols, 1]
            yy = ps.target if cols is None else ps.target[cols]
            if _additive_ok_values(binary_auc(sc, yy), table_auc):
                lab_j, g = jk.block_labels(
                    us.n, settings.jackknife_blocks, rng_for(seed, "jackknife-blocks", ens, *key)
                )

                def _sd_auc(keep: np.ndarray, sc: np.ndarray = sc, yy: np.ndarray = yy) -> float:
                    return float(np.std(binary_auc(sc[:, keep], yy[keep]), ddof=1))

                us.jack["auc"] = (
                    float(np.std(binary_auc(sc, yy), ddof=1)),
                    jk.jackknife_se(_sd_auc, lab_j, g),
                )
                if is_ref and stratum == "all":
                    state.ref_jack["auc"] = us.jack["auc"]
        state.units[key] = us

        # calibration
        if cls and ps.outputs.ndim == 3:
            probs = ps.outputs if cols is None else ps.outputs[:, cols]
            tgt = ps.target if cols is None else ps.target[cols]
            rel = cal.reliability(probs, tgt, settings.calibration_bins)
            nb = settings.calibration_bins
            rows["calibration"].append(
                Block(
                    m * nb,
                    {
                        "ensemble": ens,
                        "member": np.repeat(np.asarray(members, dtype=object), nb),
                        "test": test.name,
                        "variant": variant,
                        "stratum": stratum,
                        "bin": np.tile(np.arange(nb), m),
                        "bin_lower": np.tile(rel.bin_lower, m),
                        "bin_upper": np.tile(rel.bin_upper, m),
                        "confidence": rel.confidence.ravel(),
                        "accuracy": rel.accuracy.ravel(),
                        "count": rel.count.ravel(),
                        "ece": np.repeat(rel.ece, nb),
                        "brier": np.repeat(rel.brier, nb),
                    },
                )
            )

    # PCA of deviations (whole test)
    if m >= 2 and n >= 2:
        res_p = pca_mod.deviation_pca(ps.true_prob, settings.pca_components)
        base = {"ensemble": ens, "test": test.name, "variant": variant}
        for c in range(res_p.explained_variance_ratio.size):
            rows["pca"].append(
                {**base, "kind": "explained", "component": c + 1, "value": res_p.explained_variance_ratio[c]}
            )
            for i, mem in enumerate(members):
                rows["pca"].append(
                    {
                        **base,
                        "kind": "loading",
                        "component": c + 1,
                        "member": mem,
                        "value": res_p.loadings[i, c],
                    }
                )
        if settings.pca_scores:
            ids = np.asarray(ps.ids).astype(str).astype(object)
            for c in range(res_p.scores.shape[1]):
                rows["pca"].append(
                    Block(
                        n,
                        {
                            **base,
                            "kind": "score",
                            "component": c + 1,
                            "example_id": ids,
                            "value": res_p.scores[:, c],
                        },
                    )
                )
        for attr, arr in sorted(ps.attributes.items()):
            a = np.asarray(arr)
            if a.dtype.kind not in "biuf":
                continue
            rhos = pca_mod.attribute_spearman(res_p.scores, a.astype(np.float64))
            for c, rho in enumerate(rhos):
                rows["pca"].append(
                    {**base, "kind": "attribute_corr", "component": c + 1, "value": rho, "attribute": attr}
                )

    # marginalization
    if m >= 1 and n >= 1:
        curve = marg.marginalization_curve(
            ps.outputs,
            ps.target,
            ps.task,
            settings.marginalization_subsets,
            rng_for(seed, "marginalization", ens, test.name, variant),
        )
        best = (
            None
            if state.ref_accuracy is None or np.isnan(state.ref_accuracy).all()
            else (int(np.nanargmax(state.ref_accuracy)) if cls else int(np.nanargmin(state.ref_accuracy)))
        )
        best_val = float(curve.member_values[best]) if best is not None else float("nan")
        mv = curve.member_values
        oracle = float(np.nanmax(mv) if cls else np.nanmin(mv)) if not np.isnan(mv).all() else float("nan")
        small = marg.smallest_k_beating(curve.mean, best_val, cls)
        for j, k in enumerate(curve.k):
            rows["marginalization"].append(
                {
                    "ensemble": ens,
                    "test": test.name,
                    "variant": variant,
                    "k": int(k),
                    "metric": marg_metric,
                    "mean": curve.mean[j],
                    "sd": curve.sd[j],
                    "best_member_on_ref": members[best] if best is not None else None,
                    "best_ref_member_value": best_val,
                    "oracle_member_value": oracle,
                    "smallest_k_beating_best": small,
                }
            )
