"""The analyze stage: ensemble statistics (:mod:`uspec_audit.stats`), multi-bootstrap differences, and the
tables each test kind contributes (``TestKindSpec.tables``: ``corruptions`` of perturbed tests, ``flips`` of
contrastive ones, a plugin kind's own)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd

from uspec_audit.conformance import Blame, call_component
from uspec_audit.engine.plan import Plan
from uspec_audit.engine.progress import Progress
from uspec_audit.kind_api import KindTest, TablesRequest
from uspec_audit.pipeline.measure import metrics_for
from uspec_audit.stats.plan import AnalysisPlan, EnsemblePlan, TestPlan

TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def analysis_plan(plan: Plan, ensembles: dict, registry, metric_names) -> AnalysisPlan:
    """What the statistics need to know of the run: ensembles, tests (with what their kinds say about
    references, differences and REx domains) and each metric's direction (``MetricSpec.higher_is_better``)."""
    higher_is_better = {name: registry.get("metric", name).higher_is_better for name in metric_names}
    metric_functions = {name: registry.get("metric", name).fn for name in higher_is_better}
    ensemble_plans = []
    for name, ensemble in ensembles.items():
        groups = tuple(ensemble.groups) if any(g is not None for g in ensemble.groups) else None
        ensemble_plans.append(
            EnsemblePlan(
                name=name,
                task=ensemble.config.task,
                members=tuple(ensemble.member_names),
                reference=plan.references.get(name),
                groups=groups,
            )
        )
    test_plans = tuple(
        TestPlan(
            name=t.config.name,
            kind=t.kind.name,
            ensembles=tuple(t.ensembles),
            metrics=tuple(
                sorted(
                    {m for e in t.ensembles for m in metrics_for(ensembles[e].config.task, t.config.metrics)}
                )
            ),
            by=tuple(t.checked.by),
            variants=tuple(v.label for v in t.variants),
            compare_with_reference=t.kind.compare_with_reference,
            rex_domains=t.kind.rex_domains,
        )
        for t in plan.tests
    )
    return AnalysisPlan(
        ensembles=tuple(ensemble_plans),
        tests=test_plans,
        higher_is_better=higher_is_better,
        metric_functions=metric_functions,
    )


def analyze_run(
    metrics: pd.DataFrame,
    plan: Plan,
    ensembles: dict,
    load_predictions: Callable,
    audit,
    registry,
    progress: Progress,
    warnings: list[str],
    stats_plan: AnalysisPlan | None = None,
) -> dict[str, pd.DataFrame]:
    """Every statistics table, then the kinds' own tables. ``stats_plan``: :func:`analysis_plan` of the run (made
    here when not given)."""
    # these were imported on a thread while the members ran, if any did (engine/warmup.py);
    # wait for that thread, so that no module is imported by two threads in different orders
    from uspec_audit.engine import warmup

    warmup.wait()
    from uspec_audit.stats.analyze import analyze
    from uspec_audit.stats.differences import differences

    model = audit.model
    stats_plan = stats_plan or analysis_plan(plan, ensembles, registry, metrics["metric"].unique())
    with progress.step("Ensemble statistics", None):
        tables = analyze(
            metrics, load_predictions, stats_plan, model.analysis, model.audit.seed, notes=warnings
        )
    with progress.step("Multi-bootstrap differences", None):
        tables["differences"] = differences(load_predictions, stats_plan, model.analysis, model.audit.seed)
    tables["metrics"] = metrics
    reserved = frozenset(tables) | {"contracts"}
    for name, frame in kind_tables(
        plan, metrics, load_predictions, model.audit.seed, registry, reserved
    ).items():
        tables[name] = frame
    return tables


def kind_tables(
    plan: Plan,
    metrics: pd.DataFrame,
    load_predictions: Callable,
    seed: int,
    registry,
    reserved: frozenset[str] = frozenset(),
) -> dict[str, pd.DataFrame]:
    """The tables of every kind that has tests in ``plan`` (``TestKindSpec.tables``), once per kind with all of
    its tests, in the order the kinds first appear; tables two kinds both return are concatenated."""
    by_kind: dict[str, list] = {}
    for test_run in plan.tests:
        by_kind.setdefault(test_run.kind.name, []).append(test_run)
    out: dict[str, pd.DataFrame] = {}
    for name, runs in by_kind.items():
        kind = runs[0].kind
        if kind.tables is None:
            continue
        request = TablesRequest(
            tests=tuple(
                KindTest(t.config.name, t.config.dataset, t.params, tuple(t.ensembles), tuple(t.variants))
                for t in runs
            ),
            metrics=metrics,
            load_predictions=load_predictions,
            references=dict(plan.references),
            seed=seed,
            registry=registry,
        )
        record = registry.record("test_kind", name)
        produced = (
            call_component(record, "test kind", "failed computing its tables", kind.tables, request) or {}
        )
        for table, frame in produced.items():
            problem = _table_problem(table, frame, reserved)
            if problem:
                raise Blame.of(record, "test kind").error("returned its tables", ValueError(problem))
            out[table] = pd.concat([out[table], frame], ignore_index=True) if table in out else frame
    return out


def _table_problem(table, frame, reserved) -> str:
    if not isinstance(frame, pd.DataFrame):
        return f"table '{table}' is a {type(frame).__name__}, not a pandas DataFrame"
    if not isinstance(table, str) or not TABLE_NAME.match(table):
        return f"table name {table!r} must be lower-case letters, digits and underscores (it names a file)"
    if table in reserved:
        return f"table '{table}' is a table of the statistics; name it after the kind (e.g. 'mykind_{table}')"
    return ""
