"""The rows of ``summary.parquet``: spread, correlation with iid, signal and noise, tests and verdict.

:func:`summary_rows` builds one row per (ensemble, test, variant, stratum,
metric) from the metrics table and the per-unit statistics of
:mod:`.units`; :func:`finish_summary` then applies Benjamini-Hochberg across
the whole audit, one family per p-value column (``perm_p`` over the units of
the audit, reference rows included; ``excess_p`` and ``degraded_p`` over the
non-reference rows of every metric), and reads the verdicts
(docs/methods.md §14).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from uspec_audit.stats import bootstrap as boot
from uspec_audit.stats import correlation as corr
from uspec_audit.stats import jackknife as jk
from uspec_audit.stats.nested import anova_oneway
from uspec_audit.stats.plan import AnalysisPlan, TestPlan
from uspec_audit.stats.seeding import rng_for
from uspec_audit.stats.settings import AnalysisSettings
from uspec_audit.stats.signal import MetricStats
from uspec_audit.stats.spread import sd as sd_of
from uspec_audit.stats.spread import spread, worst_best
from uspec_audit.stats.verdicts import VerdictInputs, verdict

__all__ = ["higher_is_better", "member_values", "summary_rows", "finish_summary"]

NAN = float("nan")


def higher_is_better(plan: AnalysisPlan, metric: str) -> bool:
    """The metric's direction: its ``MetricSpec.higher_is_better``, carried by the plan."""
    try:
        return bool(plan.higher_is_better[metric])
    except KeyError:
        raise ValueError(
            f"metric '{metric}' has no direction in the analysis plan (AnalysisPlan.higher_is_better "
            f"holds each metric's MetricSpec.higher_is_better)"
        ) from None


def member_values(mt: pd.DataFrame, members: tuple[str, ...]) -> dict[tuple[str, str, str, str], np.ndarray]:
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
        test, variant, stratum, metric = (str(k) for k in key)
        out[(test, variant, stratum, metric)] = v
    return out


def _first(s: pd.Series) -> Any:
    s = s.dropna()
    return s.iloc[0] if len(s) else None


def _kind(tests: list[TestPlan], name: str) -> str:
    for t in tests:
        if t.name == name:
            return t.kind
    return ""


def _signal_columns(ms: MetricStats | None, ref_ms: MetricStats | None, scale: float, floor: float) -> dict:
    """The signal/noise and test columns of one row (null when the unit has no such statistics)."""
    if ms is None:
        return {}
    ex = ms.excess
    diff, d_lo, d_hi, d_p = ms.degraded
    return {
        "noise_sd": ms.noise_sd,
        "systematic_sd": ms.systematic_sd,
        "ref_systematic_sd": ref_ms.systematic_sd if ref_ms is not None else NAN,
        "sd_ratio_corrected": ms.corrected[0],
        "sd_ratio_corrected_ci_low": ms.corrected[1],
        "sd_ratio_corrected_ci_high": ms.corrected[2],
        "excess_sd": ex.excess_sd if ex is not None else NAN,
        "excess_slope": ex.slope if ex is not None else NAN,
        "excess_floor": floor * scale if np.isfinite(scale) else NAN,
        "excess_p": ex.p_value if ex is not None else NAN,
        "mean_difference": diff,
        "mean_difference_ci_low": d_lo,
        "mean_difference_ci_high": d_hi,
        "degraded_p": d_p,
        "mean_ci_low": ms.boot_mean[0],
        "mean_ci_high": ms.boot_mean[1],
        "sd_ci_low": ms.boot_sd[0],
        "sd_ci_high": ms.boot_sd[1],
        "sd_ratio_ci_low": ms.boot_ratio[0],
        "sd_ratio_ci_high": ms.boot_ratio[1],
        "_note": "; ".join(dict.fromkeys(ms.notes)),
    }


def summary_rows(
    state: Any,
    tests: list[TestPlan],
    mt: pd.DataFrame,
    plan: AnalysisPlan,
    settings: AnalysisSettings,
    seed: int,
) -> list[dict[str, Any]]:
    """Summary rows of one ensemble (``state``: its :class:`~uspec_audit.stats.units.EnsembleState`)."""
    ep = state.plan
    ens = ep.name
    members = list(ep.members)
    if mt.empty:
        return []
    values = member_values(mt, ep.members)
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
    ref_unit = state.units.get((ep.reference, "none", "all"))
    out = []
    for key in keys:
        test, variant, stratum, metric = key
        v = values[key]
        sp = spread(v)
        ref_v = values.get((ep.reference, "none", "all", metric))
        ref_sd = sd_of(ref_v) if ref_v is not None else NAN
        ratio = sp.sd / ref_sd if np.isfinite(sp.sd) and np.isfinite(ref_sd) and ref_sd > 0 else NAN
        w, b = worst_best(v, higher_is_better(plan, metric))
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
            cr = corr.CorrelationResult(0, *([NAN] * 6))
        us = state.units.get((test, variant, stratum))
        md = meta.loc[key] if key in meta.index else None
        sev = md["severity"] if md is not None else None
        ref_metric = state.ref.get(metric)
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
            "_scale": ref_metric.scale if ref_metric is not None else NAN,
        }
        ms = us.metrics.get(metric) if us else None
        ref_ms = ref_unit.metrics.get(metric) if ref_unit else None
        row.update(_signal_columns(ms, ref_ms, row["_scale"], settings.min_excess_ratio))
        if us and metric in us.jack and metric in state.ref_jack and not is_ref:
            s_t, se_t = us.jack[metric]
            s_r, se_r = state.ref_jack[metric]
            row["jackknife_z"], row["jackknife_p"] = jk.two_sample_z(s_t, se_t, s_r, se_r)
        if groups is not None:
            an = anova_oneway(v, groups)
            row["anova_f"], row["anova_p"], row["between_group_share"] = an.f, an.p_value, an.between_share
        out.append(row)
    return out


def _bh_column(rows: list[dict[str, Any]], column: str, include, fdr: bool, by_unit: bool = False) -> None:
    """``<column>_adj`` = Benjamini-Hochberg of ``column`` over the rows ``include`` selects (null when FDR is off).

    ``by_unit``: one p-value per (ensemble, test, variant, stratum) -- the
    permutation p is the same for every metric of a unit and counts once.
    """
    adj_name = f"{column}_adj"
    keys: dict[Any, float] = {}
    for i, r in enumerate(rows):
        p = r.get(column)
        if include(r) and p is not None and np.isfinite(p):
            k = (r["ensemble"], r["test"], r["variant"], r["stratum"]) if by_unit else i
            keys[k] = float(p)
    adjusted = {}
    if fdr and keys:
        ks = list(keys)
        adjusted = dict(zip(ks, boot.bh(np.array([keys[k] for k in ks])).tolist(), strict=True))
    for i, r in enumerate(rows):
        k = (r["ensemble"], r["test"], r["variant"], r["stratum"]) if by_unit else i
        r[adj_name] = adjusted.get(k, NAN) if include(r) else NAN


def finish_summary(rows: list[dict[str, Any]], settings: AnalysisSettings) -> None:
    """BH-adjust the p-value columns across the audit and set ``verdict`` / ``verdict_reason`` in place."""
    _bh_column(rows, "perm_p", lambda r: True, settings.fdr, by_unit=True)
    _bh_column(rows, "excess_p", lambda r: not r["_is_ref"], settings.fdr)
    _bh_column(rows, "degraded_p", lambda r: not r["_is_ref"], settings.fdr)
    suffix = "_adj" if settings.fdr else ""
    for r in rows:

        def pick(column: str, r: dict[str, Any] = r) -> Any:
            return r.get(f"{column}{suffix}")

        inputs = VerdictInputs(
            n_members=int(r["n_members"]),
            is_reference=bool(r["_is_ref"]),
            excess_p=_num(pick("excess_p")),
            excess_sd=_num(r.get("excess_sd")),
            floor_sd=_num(r.get("excess_floor")),
            degraded_p=_num(pick("degraded_p")),
            difference=_num(r.get("mean_difference")),
            difference_ci=(_num(r.get("mean_difference_ci_low")), _num(r.get("mean_difference_ci_high"))),
            ratio=_num(r.get("sd_ratio_corrected")),
            ratio_ci=(_num(r.get("sd_ratio_corrected_ci_low")), _num(r.get("sd_ratio_corrected_ci_high"))),
            perm_p=_num(pick("perm_p")),
            adjusted=settings.fdr,
            note=r.get("_note") or "",
        )
        r["verdict"], r["verdict_reason"] = verdict(inputs, settings.min_members, settings.alpha)
        for k in [k for k in r if k.startswith("_")]:
            del r[k]


def _num(x: Any) -> float:
    return float(x) if x is not None and not pd.isna(x) else NAN
