"""The test kind ``template/group-gap``: a perturbation composed with a stratification.

The dataset runs unperturbed and under each perturbation and severity (like ``perturbed``), and every
variant is split by ``by`` (like ``stratified``), so each stratum gets its metrics and statistics under each
perturbation. What the kind adds of its own is the table ``group_gap``: per member and variant, the gap between
its best and its worst group on ``metric``, and how much the perturbation widened that gap (``gap_change``,
against the unperturbed data). A perturbation that hurts one group more than the others shows as a growing gap.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field

from uspec_audit import CheckRequest, Problem, TablesRequest, TestKindSpec, Variant, VariantRequest
from uspec_audit.kinds import (
    PerturbationParams,
    StrataParams,
    attribute_problems,
    perturbation_problems,
    perturbation_variants,
)

COLUMNS = [
    "ensemble",
    "test",
    "variant",
    "member",
    "metric",
    "worst_group",
    "worst_value",
    "best_group",
    "best_value",
    "gap",
    "gap_change",
]


class GroupGapParams(PerturbationParams, StrataParams):
    """The keys of a ``template/group-gap`` test: ``by`` (and ``min_stratum_size``, ``max_strata``),
    ``perturbations`` or ``suite`` (and ``severities``), and ``metric``."""

    metric: str = Field("accuracy", description="The metric whose gap between groups is reported.")


def check(request: CheckRequest) -> list[Problem]:
    params: GroupGapParams = request.params
    problems = attribute_problems(request, params.by, "by", "")
    problems += perturbation_problems(params, request.registry)
    if not params.perturbs:
        problems.append(Problem("a template/group-gap test needs `perturbations` or `suite`."))
    if request.test.metrics is not None and params.metric not in request.test.metrics:
        problems.append(
            Problem(
                f"metric '{params.metric}' is not one of the test's metrics {request.test.metrics}.",
                ("metric",),
            )
        )
    return problems


def variants(request: VariantRequest) -> list[Variant]:
    """The unperturbed data first (the gap every other variant is compared with), then each perturbation."""
    return [
        Variant(),
        *perturbation_variants(request.params, request.registry, request.test.name, request.where),
    ]


def strata(params: GroupGapParams):
    return params.strata()


def tables(request: TablesRequest) -> dict[str, pd.DataFrame]:
    """``group_gap``: per (ensemble, test, variant, member) the best and worst group and their gap."""
    metrics, rows = request.metrics, []
    for test in request.tests:
        metric = test.params.metric
        higher = request.registry.get("metric", metric).higher_is_better
        part = metrics[
            (metrics["test"] == test.name) & (metrics["metric"] == metric) & (metrics["stratum"] != "all")
        ]
        baseline: dict[tuple[str, str], float] = {}
        for (ensemble, variant, member), group in part.groupby(["ensemble", "variant", "member"], sort=False):
            values = group.set_index("stratum")["value"].dropna()
            if values.empty:
                continue
            worst, best = (values.idxmin(), values.idxmax()) if higher else (values.idxmax(), values.idxmin())
            gap = float(abs(values[best] - values[worst]))
            if variant == "none":
                baseline[(ensemble, member)] = gap
            rows.append(
                {
                    "ensemble": ensemble,
                    "test": test.name,
                    "variant": variant,
                    "member": member,
                    "metric": metric,
                    "worst_group": worst,
                    "worst_value": float(values[worst]),
                    "best_group": best,
                    "best_value": float(values[best]),
                    "gap": gap,
                    "gap_change": gap - baseline.get((ensemble, member), float("nan")),
                }
            )
    return {"group_gap": pd.DataFrame(rows, columns=COLUMNS)}


GROUP_GAP = TestKindSpec(
    name="template/group-gap",
    doc="Perturbations x groups: each member's gap between its best and worst group, per perturbation.",
    params=GroupGapParams,
    check=check,
    variants=variants,
    strata=strata,
    tables=tables,
    produces=("group_gap",),
)
