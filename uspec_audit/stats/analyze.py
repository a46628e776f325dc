"""Assemble the ensemble statistics of METHODS.md into result tables.

:func:`analyze` reads the per-member ``metrics`` table (spread-only statistics
come from it) and, one ``(ensemble, test, variant)`` at a time, the per-example
predictions (example-level statistics: permutation tests, disagreement,
multi-bootstrap, jackknife, calibration, PCA, marginalization, REx risks), so
memory is bounded by one prediction set. Every random draw comes from
:func:`uspec_audit.stats.seeding.rng_for` with the audit seed and the names of
the statistic and its unit: the same inputs give identical tables.

Undefined statistics are null/NaN, never errors: a one-member ensemble (every
SD-based number, correlations, verdict ``insufficient``), a constant metric
(correlations), a zero reference SD (sd ratio), a metric that is not additive
(multi-bootstrap CIs and jackknife are only computed for accuracy, error, nll,
brier, mse and mae -- the jackknife also for a binary AUC -- and only when the
member values recomputed from the predictions agree with the metrics table),
no groups (ANOVA).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats import bootstrap as boot
from uspec_audit.stats import correlation as corr
from uspec_audit.stats import jackknife as jk
from uspec_audit.stats import rex as rex_mod
from uspec_audit.stats.nested import anova_oneway
from uspec_audit.stats.plan import AnalysisPlan, EnsemblePlan, TestPlan
from uspec_audit.stats.seeding import rng_for
from uspec_audit.stats.settings import AnalysisSettings
from uspec_audit.stats.spread import sd as sd_of
from uspec_audit.stats.spread import spread, worst_best
from uspec_audit.stats.tables import Block, frame
from uspec_audit.stats.units import EnsembleState, Unit, example_level, stratum_labels
from uspec_audit.stats.verdicts import verdict

__all__ = ["analyze", "stratum_labels", "LOWER_IS_BETTER"]

LOWER_IS_BETTER = frozenset({"nll", "brier", "ece", "mse", "nmse", "mae", "error", "rmse"})


def _higher(plan: AnalysisPlan, metric: str) -> bool:
    return bool(plan.higher_is_better.get(metric, metric not in LOWER_IS_BETTER))


def _member_values(mt: pd.DataFrame, members: tuple[str, ...]) -> dict[tuple[str, str, str, str], np.ndarray]:
    """(test, variant, stratum, metric) -> (M,) values aligned with ``members`` (NaN if absent)."""
    pos = {m: i for i, m in enumerate(members)}
    out: dict[tuple[str, str, str, str], np.ndarray] = {}
    if mt.empty:
        return out
    idx = mt["member"].map(pos)
    mt = mt.assign(_pos=idx).dropna(subset=["_pos"])
    for key, g in mt.groupby(["test", "variant", "stratum", "metric"], sort=False):
        v = np.full(len(members), np.nan)
        v[g["_pos"].astype(int).to_numpy()] = g["value"].astype(float).to_numpy()
        out[tuple(str(k) for k in key)] = v
    return out


def analyze(
    metrics: pd.DataFrame,
    load_predictions: Callable[[str, str, str], PredictionSet],
    plan: AnalysisPlan,
    settings: AnalysisSettings,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Compute every ensemble statistic of METHODS.md; returns the result tables by name.

    Tables (columns in :mod:`uspec_audit.stats.tables`): ``summary``,
    ``correlations``, ``calibration``, ``pca``, ``marginalization``, ``rex``,
    ``disagreement``. ``load_predictions(ensemble, test, variant)`` is called
    once per (ensemble, test, variant), reference test first.
    """
    seed = int(seed) + int(settings.seed_offset)
    say = progress or (lambda _msg: None)
    rows: dict[str, list[dict[str, Any] | Block]] = {
        k: []
        for k in ("summary", "correlations", "calibration", "pca", "marginalization", "rex", "disagreement")
    }
    states: list[tuple[EnsembleState, list[TestPlan], pd.DataFrame]] = []
    for ep in plan.ensembles:
        tests = [t for t in plan.tests if ep.name in t.ensembles]
        tests.sort(key=lambda t: t.name != ep.reference)
        mt = metrics[metrics["ensemble"] == ep.name] if len(metrics) else metrics
        state = EnsembleState(plan=ep, rex_risk=settings.rex_risk if ep.task != "regression" else "mse")
        values = _member_values(mt, ep.members)
        for t in tests:
            for variant in t.variants:
                say(f"statistics: {ep.name} / {t.name} / {variant}")
                ps = load_predictions(ep.name, t.name, variant)
                example_level(state, t, variant, ps, values, settings, seed, rows)
                del ps
        states.append((state, tests, mt))
        _rex_rows(state, tests, settings.rex_lambda_min, rows)
        _correlation_rows(ep, values, rows)
    # summary rows for every ensemble, then BH over the permutation units of the whole audit
    for state, tests, mt in states:
        _summary_rows(state, tests, mt, plan, settings, seed, rows)
    summary = rows["summary"]
    if summary:
        keys = [(r["ensemble"], r["test"], r["variant"], r["stratum"]) for r in summary]
        unique: dict[tuple[str, str, str, str], float] = {}
        for k, r in zip(keys, summary, strict=True):
            if not r.get("_is_ref") and r["perm_p"] is not None and np.isfinite(r["perm_p"]):
                unique[k] = r["perm_p"]
        adj_map: dict[tuple[str, str, str, str], float] = {}
        if unique:
            ks = list(unique)
            adj = (
                boot.bh(np.array([unique[k] for k in ks]))
                if settings.fdr
                else np.array([unique[k] for k in ks])
            )
            adj_map = dict(zip(ks, adj.tolist(), strict=True))
        for k, r in zip(keys, summary, strict=True):
            r["perm_p_adj"] = adj_map.get(k)
            if r.pop("_is_ref", False):
                r["verdict"] = "insufficient" if r["n_members"] < 2 else "stable"
            else:
                r["verdict"] = verdict(
                    r["n_members"],
                    r["mean"],
                    r["sd_ratio"],
                    r["perm_p_adj"] if r["perm_p_adj"] is not None else float("nan"),
                    r.pop("_ref_lo"),
                    r.pop("_ref_hi"),
                    r.pop("_hib"),
                    settings.sd_ratio_threshold,
                    settings.alpha,
                )
            for k2 in ("_ref_lo", "_ref_hi", "_hib"):
                r.pop(k2, None)
    return {name: frame(name, rs) for name, rs in rows.items()}


# --------------------------------------------------------------------------- REx


def _rex_rows(
    state: EnsembleState, tests: list[TestPlan], lam: float, rows: dict[str, list[dict[str, Any] | Block]]
) -> None:
    ep = state.plan
    sets: list[tuple[str, list[Unit]]] = []
    ref_unit = (ep.reference, "none", "all")
    for t in tests:
        if t.by:
            for v in t.variants:
                doms = [u for u in state.units if u[0] == t.name and u[1] == v and u[2] != "all"]
                name = t.name if v == "none" else f"{t.name}:{v}"
                sets.append((name, doms))
        elif t.kind == "perturbed":
            doms = [u for u in state.units if u[0] == t.name and u[2] == "all"]
            if ref_unit in state.units:
                doms = [ref_unit, *doms]
            sets.append((t.name, doms))
    shifted = [u for u in state.units if u[2] == "all" and u[1] == "none" and _kind(tests, u[0]) == "shifted"]
    if shifted and ref_unit in state.units:
        sets.append(("shifted", [ref_unit, *shifted]))
    for name, doms in sets:
        if len(doms) < 2:
            continue
        risks = np.column_stack([state.units[u].risks for u in doms])
        res = rex_mod.rex_criteria(risks, lam)
        chosen = rex_mod.select(res)
        for i, mem in enumerate(ep.members):
            by = [c for c in rex_mod.CRITERIA if chosen[c] == i]
            rows["rex"].append(
                {
                    "ensemble": ep.name,
                    "member": mem,
                    "domain_set": name,
                    "risk": state.rex_risk,
                    "v_rex": res.v_rex[i],
                    "ri": res.ri[i],
                    "mm_rex": res.mm_rex[i],
                    "selected_by": ",".join(by) if by else None,
                }
            )


def _kind(tests: list[TestPlan], name: str) -> str:
    for t in tests:
        if t.name == name:
            return t.kind
    return ""


# --------------------------------------------------------------------------- correlations


def _correlation_rows(
    ep: EnsemblePlan,
    values: dict[tuple[str, str, str, str], np.ndarray],
    rows: dict[str, list[dict[str, Any] | Block]],
) -> None:
    metrics = sorted({k[3] for k in values})
    for metric in metrics:
        units = [k[:3] for k in values if k[3] == metric]
        if not units:
            continue
        mat = np.column_stack([values[(*u, metric)] for u in units])
        sp = corr.spearman_matrix(mat, "spearman")
        pe = corr.spearman_matrix(mat, "pearson")
        present = ~np.isnan(mat)
        both = present.T.astype(np.int64) @ present.astype(np.int64)
        for a, ua in enumerate(units):
            for b, ub in enumerate(units):
                rows["correlations"].append(
                    {
                        "ensemble": ep.name,
                        "metric": metric,
                        "test_a": ua[0],
                        "variant_a": ua[1],
                        "stratum_a": ua[2],
                        "test_b": ub[0],
                        "variant_b": ub[1],
                        "stratum_b": ub[2],
                        "spearman": sp[a, b],
                        "pearson": pe[a, b],
                        "n_members": int(both[a, b]),
                    }
                )


# --------------------------------------------------------------------------- summary


def _first(s: pd.Series) -> Any:
    s = s.dropna()
    return s.iloc[0] if len(s) else None


def _summary_rows(
    state: EnsembleState,
    tests: list[TestPlan],
    mt: pd.DataFrame,
    plan: AnalysisPlan,
    settings: AnalysisSettings,
    seed: int,
    rows: dict[str, list[dict[str, Any] | Block]],
) -> None:
    ep = state.plan
    ens = ep.name
    members = list(ep.members)
    values = _member_values(mt, ep.members)
    if mt.empty:
        return
    groups = None
    if ep.groups is not None:
        groups = np.asarray(ep.groups, dtype=object)
    elif "group" in mt.columns and mt["group"].notna().any():
        gmap = mt.dropna(subset=["group"]).groupby("member")["group"].first()
        if all(mm in gmap.index for mm in members):
            groups = np.asarray([gmap[mm] for mm in members], dtype=object)
    meta = mt.groupby(["test", "variant", "stratum", "metric"], sort=False).agg(
        kind=("kind", "first"),
        perturbation=("perturbation", _first),
        severity=("severity", _first),
        n=("n", "max"),
    )
    order = {t.name: i for i, t in enumerate(tests)}
    keys = sorted(
        values,
        key=lambda k: (order.get(k[0], len(order)), k[0], k[1] != "none", k[1], k[2] != "all", k[2], k[3]),
    )
    for key in keys:
        test, variant, stratum, metric = key
        v = values[key]
        sp = spread(v)
        hib = _higher(plan, metric)
        ref_v = values.get((ep.reference, "none", "all", metric))
        ref_sd = sd_of(ref_v) if ref_v is not None else float("nan")
        ratio = sp.sd / ref_sd if np.isfinite(sp.sd) and np.isfinite(ref_sd) and ref_sd > 0 else float("nan")
        w, b = worst_best(v, hib)
        is_ref = test == ep.reference and variant == "none" and stratum == "all"
        if ref_v is not None and not is_ref:
            cr = corr.correlate(
                ref_v,
                v,
                rng_for(seed, "spearman-bootstrap", ens, *key),
                settings.member_bootstrap,
                rng_for(seed, "spearman-permutation", ens, *key),
                settings.permutations,
                level=settings.ci_level,
            )
        else:
            cr = corr.CorrelationResult(0, *([float("nan")] * 6))
        us = state.units.get((test, variant, stratum))
        md = meta.loc[key] if key in meta.index else None
        sev = md["severity"] if md is not None else None
        row: dict[str, Any] = {
            "ensemble": ens,
            "test": test,
            "kind": md["kind"] if md is not None and md["kind"] is not None else _kind(tests, test),
            "variant": variant,
            "perturbation": md["perturbation"] if md is not None else None,
            "severity": None if sev is None or pd.isna(sev) else int(sev),
            "stratum": stratum,
            "metric": metric,
            "n_members": sp.n_members,
            "n_examples": int(md["n"]) if md is not None and not pd.isna(md["n"]) else (us.n if us else 0),
            "mean": sp.mean,
            "sd": sp.sd,
            "min": sp.min,
            "max": sp.max,
            "range": sp.range,
            "sd_ratio": ratio,
            "ref_sd": ref_sd,
            "worst_member": members[w] if w is not None else None,
            "worst_value": v[w] if w is not None else None,
            "best_member": members[b] if b is not None else None,
            "best_value": v[b] if b is not None else None,
            "spearman_rho": cr.spearman,
            "spearman_ci_low": cr.spearman_ci_low,
            "spearman_ci_high": cr.spearman_ci_high,
            "spearman_p": cr.spearman_p,
            "pearson_r": cr.pearson,
            "pearson_p": cr.pearson_p,
            "perm_p": us.perm_p if us else None,
            "disagreement": us.disagreement.get("disagreement") if us else None,
            "_is_ref": is_ref,
            "_hib": hib,
        }
        nan2 = (float("nan"), float("nan"))
        if us:
            row["mean_ci_low"], row["mean_ci_high"] = us.boot_mean.get(metric, nan2)
            row["sd_ci_low"], row["sd_ci_high"] = us.boot_sd.get(metric, nan2)
            row["sd_ratio_ci_low"], row["sd_ratio_ci_high"] = us.boot_ratio.get(metric, nan2)
            if metric in us.jack and metric in state.ref_jack and not is_ref:
                s_t, se_t = us.jack[metric]
                s_r, se_r = state.ref_jack[metric]
                row["jackknife_z"], row["jackknife_p"] = jk.two_sample_z(s_t, se_t, s_r, se_r)
        if groups is not None:
            an = anova_oneway(v, groups)
            row["anova_f"], row["anova_p"], row["between_group_share"] = an.f, an.p_value, an.between_share
        # reference interval for 'degraded': multi-bootstrap CI of the ref mean, else a t-interval over members
        ref_unit = state.units.get((ep.reference, "none", "all"))
        lo, hi = ref_unit.boot_mean.get(metric, nan2) if ref_unit else nan2
        if not (np.isfinite(lo) and np.isfinite(hi)) and ref_v is not None:
            rs = spread(ref_v)
            if rs.n_members >= 2 and np.isfinite(rs.sd):
                half = (
                    sps.t.ppf(0.5 + settings.ci_level / 2, rs.n_members - 1) * rs.sd / np.sqrt(rs.n_members)
                )
                lo, hi = rs.mean - half, rs.mean + half
        row["_ref_lo"], row["_ref_hi"] = lo, hi
        rows["summary"].append(row)
