"""Assemble the ensemble statistics of docs/methods.md into result tables.

:func:`analyze` reads the per-member ``metrics`` table (spread-only statistics
come from it) and, one ``(ensemble, test, variant)`` at a time, the per-example
predictions (example-level statistics: permutation tests, disagreement,
signal and noise, multi-bootstrap, the verdict tests, jackknife, calibration,
PCA, marginalization, REx risks), so memory is bounded by one prediction set
plus a few numbers per row. Every random draw comes from
:func:`uspec_audit.stats.seeding.rng_for` with the audit seed and the names of
the statistic and its unit: the same inputs give identical tables.

Undefined statistics are null/NaN, never errors: a one-member ensemble (every
SD-based number, correlations, verdict ``insufficient``), a constant metric
(correlations), a zero reference SD (sd ratio), a metric whose member values
cannot be recomputed from the predictions (its resampling-based columns, with
the reason in ``verdict_reason``), no groups (ANOVA).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats import correlation as corr
from uspec_audit.stats import rex as rex_mod
from uspec_audit.stats.plan import AnalysisPlan, EnsemblePlan, TestPlan
from uspec_audit.stats.settings import AnalysisSettings
from uspec_audit.stats.summary import (
    finish_summary,
    higher_is_better,
    member_values,
    summary_rows,
)
from uspec_audit.stats.tables import Block, frame
from uspec_audit.stats.units import EnsembleState, Unit, example_level, stratum_labels

__all__ = ["analyze", "stratum_labels"]


def analyze(
    metrics: pd.DataFrame,
    load_predictions: Callable[[str, str, str], PredictionSet],
    plan: AnalysisPlan,
    settings: AnalysisSettings,
    seed: int,
    progress: Callable[[str], None] | None = None,
    notes: list[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Compute every ensemble statistic of docs/methods.md; returns the result tables by name.

    Tables (columns in :mod:`uspec_audit.results.catalog`): ``summary``,
    ``correlations``, ``calibration``, ``pca``, ``marginalization``, ``rex``,
    ``disagreement``. ``load_predictions(ensemble, test, variant)`` is called
    once per (ensemble, test, variant), reference test first. ``notes``, when
    given, receives one line per statistic that was bounded or left out (for
    the manifest).
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
        state = EnsembleState(
            plan=ep,
            higher_is_better={k: higher_is_better(plan, k) for k in set(mt["metric"]) if len(mt)},
            metric_functions=dict(plan.metric_functions),
            rex_risk=settings.rex_risk if ep.task != "regression" else "mse",
        )
        values = member_values(mt, ep.members)
        for t in tests:
            for variant in t.variants:
                say(f"statistics: {ep.name} / {t.name} / {variant}")
                ps = load_predictions(ep.name, t.name, variant)
                example_level(state, t, variant, ps, values, settings, seed, rows)
                del ps
        states.append((state, tests, mt))
        _rex_rows(state, tests, settings.rex_lambda_min, rows)
        _correlation_rows(ep, tests, values, settings.max_correlation_units, rows, state.notes)
    summary: list[dict[str, Any]] = []
    for state, tests, mt in states:
        summary += summary_rows(state, tests, mt, plan, settings, seed)
        if notes is not None:
            notes.extend(dict.fromkeys(state.notes))
    finish_summary(summary, settings)
    rows["summary"] = list(summary)
    return {name: frame(name, rs) for name, rs in rows.items()}


# --------------------------------------------------------------------------- REx


def _rex_rows(
    state: EnsembleState, tests: list[TestPlan], lam: float, rows: dict[str, list[dict[str, Any] | Block]]
) -> None:
    ep = state.plan
    sets: list[tuple[str, list[Unit]]] = []
    ref_unit = (ep.reference, "none", "all")
    for t in tests:  # the test's kind says which of its units are domains (TestKindSpec.rex_domains)
        if t.by and t.rex_domains == "strata":
            for v in t.variants:
                doms = [u for u in state.units if u[0] == t.name and u[1] == v and u[2] != "all"]
                name = t.name if v == "none" else f"{t.name}:{v}"
                sets.append((name, doms))
        elif t.rex_domains == "variants":
            doms = [u for u in state.units if u[0] == t.name and u[2] == "all"]
            if ref_unit in state.units:
                doms = [ref_unit, *doms]
            sets.append((t.name, doms))
    pooled: dict[str, list[Unit]] = {}  # one set per pooling kind (shifted), in the order of the units
    pooling = {t.name: t.kind for t in tests if t.rex_domains == "pooled"}
    for u in state.units:
        if u[2] == "all" and u[1] == "none" and u[0] in pooling:
            pooled.setdefault(pooling[u[0]], []).append(u)
    for name, units in pooled.items():
        if ref_unit in state.units:
            sets.append((name, [ref_unit, *units]))
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


# --------------------------------------------------------------------------- correlations


def correlation_pairs(
    units: list[Unit], reference: tuple[str | None, str, str], cap: int
) -> tuple[list[tuple[int, int]], list[str]]:
    """Index pairs of ``units`` written to correlations.parquet, and notes when the bound applied.

    Rule (docs/methods.md §2): every whole-test row (stratum ``all``: tests and
    variants) with every other, when there are at most ``cap`` of them; each
    stratum with its own whole test, the reference, and the other strata of
    the same (test, variant) when that test has at most ``cap`` strata. Beyond
    a cap a row is paired with the reference and its own whole test only. The
    table therefore grows linearly with the number of strata, never as its
    square.
    """
    pos: dict[tuple[str | None, str, str], int] = {u: i for i, u in enumerate(units)}
    ref = pos.get(reference)
    whole = [i for i, u in enumerate(units) if u[2] == "all"]
    notes = []
    pairs: set[tuple[int, int]] = {(i, i) for i in range(len(units))}

    def both(a: int, b: int) -> None:
        pairs.add((a, b))
        pairs.add((b, a))

    if len(whole) <= cap:
        for a in whole:
            for b in whole:
                pairs.add((a, b))
    else:
        notes.append(
            f"correlations: {len(whole)} whole-test rows > max_correlation_units = {cap}; each is "
            "paired with the reference test only"
        )
        for a in whole:
            if ref is not None:
                both(a, ref)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, u in enumerate(units):
        if u[2] != "all":
            groups.setdefault((u[0], u[1]), []).append(i)
    for (test, variant), members in groups.items():
        own = pos.get((test, variant, "all"))
        for a in members:
            for other in (own, ref):
                if other is not None:
                    both(a, other)
        if len(members) <= cap:
            for a in members:
                for b in members:
                    pairs.add((a, b))
        else:
            notes.append(
                f"correlations: test '{test}' has {len(members)} strata > max_correlation_units = {cap}; "
                "strata are paired with their whole test and the reference only"
            )
    return sorted(pairs), notes


def _correlation_rows(
    ep: EnsemblePlan,
    tests: list[TestPlan],
    values: dict[tuple[str, str, str, str], np.ndarray],
    cap: int,
    rows: dict[str, list[dict[str, Any] | Block]],
    notes: list[str],
) -> None:
    order = {t.name: i for i, t in enumerate(tests)}
    for metric in sorted({k[3] for k in values}):
        units = sorted(
            (k[:3] for k in values if k[3] == metric),
            key=lambda u: (order.get(u[0], len(order)), u[0], u[1] != "none", u[1], u[2] != "all", u[2]),
        )
        if not units:
            continue
        pairs, why = correlation_pairs(units, (ep.reference, "none", "all"), cap)
        notes.extend(f"ensemble '{ep.name}', metric '{metric}': {w}" for w in why)
        a_idx = np.array([p[0] for p in pairs], dtype=np.int64)
        b_idx = np.array([p[1] for p in pairs], dtype=np.int64)
        mat = np.column_stack([values[(*u, metric)] for u in units])  # (M, rows): linear in the rows
        sp = corr.pair_correlations(mat, a_idx, b_idx, "spearman")
        pe = corr.pair_correlations(mat, a_idx, b_idx, "pearson")
        present = ~np.isnan(mat)
        both = (present[:, a_idx] & present[:, b_idx]).sum(axis=0)
        ua = [units[i] for i in a_idx]
        ub = [units[i] for i in b_idx]
        rows["correlations"].append(
            Block(
                len(pairs),
                {
                    "ensemble": ep.name,
                    "metric": metric,
                    "test_a": [u[0] for u in ua],
                    "variant_a": [u[1] for u in ua],
                    "stratum_a": [u[2] for u in ua],
                    "test_b": [u[0] for u in ub],
                    "variant_b": [u[1] for u in ub],
                    "stratum_b": [u[2] for u in ub],
                    "spearman": sp,
                    "pearson": pe,
                    "n_members": both,
                },
            )
        )
