"""Run an audit end to end: load, stream, compute, analyse, check contracts, write results.

The run claims its results folder (:mod:`uspec_audit.results.folder`), holds
its writer lock for the whole run (:mod:`uspec_audit.results.lock`), and
assembles tables, predictions, reports and -- last -- the manifest in a
staging folder that it then commits (:mod:`uspec_audit.results.staging`). A run
that fails or is interrupted before the commit leaves the previous complete
results untouched; the folder is complete only when ``manifest.json`` says
``"status": "complete"``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from uspec_audit.config.load import LoadedAudit
from uspec_audit.config.trust import allowed_code
from uspec_audit.contracts import check_contracts
from uspec_audit.engine.cache import PredictionCache, UnitPredictions
from uspec_audit.engine.contrastive import contrastive_flips
from uspec_audit.engine.executor import LoadedEnsemble
from uspec_audit.engine.inference import resolve_execution, run_inference
from uspec_audit.engine.loading import load_ensembles, open_readers
from uspec_audit.engine.manifest import build_manifest, file_records, unit_records
from uspec_audit.engine.member_metrics import metric_rows, metrics_for, metrics_frame
from uspec_audit.engine.notices import collecting
from uspec_audit.engine.plan import Plan, build_plan
from uspec_audit.engine.progress import Progress
from uspec_audit.engine.reports import Rendered, render_or_reuse
from uspec_audit.engine.stats_cache import StatisticsCache, write_tables
from uspec_audit.engine.stats_cache import statistics_key as stats_key
from uspec_audit.engine.strata import check_strata
from uspec_audit.errors import AuditFileError, RunError
from uspec_audit.results.folder import MANIFEST, ResultsFolder
from uspec_audit.results.lock import writer_lock
from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.results.predictions import predictions_frame
from uspec_audit.results.staging import Staging, recover
from uspec_audit.results.writer import check_result_tables, write_json, write_result_table
from uspec_audit.signals import interrupted
from uspec_audit.stats.plan import AnalysisPlan, EnsemblePlan, TestPlan


@dataclass
class RunOptions:
    """Command-line choices of ``uspec-audit run``.

    ``reports``: the report formats to write (None: what the audit file asks for); ``pdf``: a PDF is
    required (an error if no engine can make it); ``wait``: wait for another run on the same folder instead
    of exiting 2; ``allow_code``: modules whose factories may be imported (``--allow-code``).
    """

    output: Path | None = None
    device: str = "auto"
    fresh: bool = False
    only: list[str] = field(default_factory=list)
    command: str = ""
    reports: set[str] | None = None
    pdf: bool = False
    wait: bool = False
    allow_code: list[str] = field(default_factory=list)
    executor: str | None = None  # local | ray; None: the audit file's [execution] table
    address: str | None = None  # ray: an existing cluster


@dataclass
class RunOutcome:
    """What a finished run produced."""

    output: Path
    tables: MutableMapping[str, pd.DataFrame]  # engine.stats_cache.StoredTables: read when asked for
    manifest: dict
    warnings: list[str]
    reports: list[Path] = field(default_factory=list)
    report_warnings: list[str] = field(default_factory=list)

    @property
    def contracts_failed(self) -> int:
        contracts = self.tables.get("contracts")
        return 0 if contracts is None or contracts.empty else int((contracts["status"] == "FAIL").sum())


def execute_audit(loaded: LoadedAudit, registry, options: RunOptions, progress: Progress | None = None) -> RunOutcome:
    """Run the audit and commit every result file; raise a :class:`~uspec_audit.errors.UspecError` on failure
    (the previous results then stay as they were)."""
    progress = progress or Progress()
    started = time.perf_counter(), datetime.now(UTC).isoformat(timespec="seconds")
    output = _output_folder(loaded, options)
    plan = _plan(loaded, registry, options)
    folder = ResultsFolder.claim(output)
    with writer_lock(folder.path, wait=options.wait, command=options.command), allowed_code(options.allow_code):
        notes = recover(folder)
        with Staging(folder) as staging:
            computed = _compute(loaded, registry, plan, options, progress, folder, staging.path, notes)
            outcome = _write(loaded, registry, plan, options, progress, computed, staging.path, output, started)
            if interrupted():  # a library swallowed the KeyboardInterrupt: still never commit an interrupted run
                raise KeyboardInterrupt
            staging.commit()
    outcome.reports = [output / name for name in outcome.manifest["reports"]]
    return outcome


def _output_folder(loaded: LoadedAudit, options: RunOptions) -> Path:
    """``--out``, else the audit's ``[audit] output`` (which must stay inside the audit file's folder)."""
    if options.output is not None:
        return Path(options.output).expanduser().resolve()
    from uspec_audit.config.trust import output_problem

    problem = output_problem(loaded)
    if problem:
        raise AuditFileError(problem)
    return loaded.output_dir.resolve()


def _plan(loaded: LoadedAudit, registry, options: RunOptions) -> Plan:
    tests = [t.name for t in loaded.model.tests]
    unknown = [name for name in options.only if name not in tests]
    if unknown:
        raise AuditFileError(f"--only: unknown test(s) {unknown}; tests are {tests}.")
    return build_plan(loaded, registry, options.only or None)


@dataclass
class _Computed:
    """Everything a run computed, before anything is written besides the predictions."""

    tables: MutableMapping[str, pd.DataFrame]  # engine.stats_cache.StoredTables: read when asked for
    ensembles: dict[str, LoadedEnsemble]
    readers: dict
    metadata: dict[str, pd.DataFrame]
    fingerprints: dict[str, str]
    unit_keys: dict
    timings: dict
    warnings: list[str]
    execution: dict = field(default_factory=dict)  # where inference ran (the manifest's "execution")
    reuse: dict = field(default_factory=dict)  # the statistics' cache key and whether they were reused


def _compute(loaded: LoadedAudit, registry, plan: Plan, options: RunOptions, progress: Progress,
             folder: ResultsFolder, staging: Path, notes: list[str]) -> _Computed:
    """Inference, per-member metrics (predictions written to ``staging`` on the way) and statistics."""
    audit = loaded.model
    execution = resolve_execution(audit.execution, options.executor, options.address)
    cache = PredictionCache(folder.cache_dir, enabled=not options.fresh)
    cache.remove_partial_writes()
    warnings = list(loaded.checked.warnings) + notes

    readers = open_readers(loaded, plan, registry)
    metadata = {name: reader.metadata() for name, reader in readers.items()}
    warnings += check_strata(loaded, plan, metadata)
    fingerprints = {name: reader.fingerprint() for name, reader in readers.items()}
    load_started = time.perf_counter()
    ensembles = load_ensembles(loaded, plan, registry, options.device, progress)
    load_seconds = time.perf_counter() - load_started

    # Stream every (dataset, variant) once through all members that still need it; what the components do
    # wrong on the way (a perturbation's first batch) comes back as notices.
    inference_started = time.perf_counter()
    with collecting() as component_notices:
        inferred = run_inference(plan, readers, fingerprints, ensembles, cache, registry, audit.audit.seed,
                                 audit.audit.batch_size, options.device, progress, execution, loaded.base_dir,
                                 options.allow_code)
    warnings += [w for w in component_notices if w not in warnings]
    unit_keys = inferred.unit_keys
    inference_seconds = time.perf_counter() - inference_started

    # Per-member metrics and predictions for every (ensemble, test, variant).
    analysis_started = time.perf_counter()
    rows: list[dict] = []
    n_units = sum(len(t.variants) * len(t.ensembles) for t in plan.tests)

    @functools.lru_cache(maxsize=4)  # metrics, statistics, differences and flips read the same units in turn
    def read_unit(key: str) -> UnitPredictions | None:
        return cache.get(key)

    def load_unit(ensemble: str, test_run, variant) -> PredictionSet:
        group_key = (test_run.config.dataset, variant.label, variant.params_json)
        key = unit_keys[(ensemble, group_key)]
        unit = read_unit(key)
        if unit is None:
            raise RunError(f"the stored predictions of unit {key} in {cache.folder} were removed or damaged while "
                           f"this run was using them; run the same command again to recompute them.")
        return _prediction_set(unit, ensembles[ensemble], test_run, variant, metadata[test_run.config.dataset])

    with progress.step("Per-member metrics", n_units) as advance:
        for test_run in plan.tests:
            for variant in test_run.variants:
                for ensemble in test_run.ensembles:
                    predictions = load_unit(ensemble, test_run, variant)
                    task = ensembles[ensemble].config.task
                    names = metrics_for(task, test_run.config.metrics)
                    rows += metric_rows(predictions, test_run.config.kind, names, test_run.config.by_list, registry,
                                        variant.perturbation, variant.severity, test_run.config.min_stratum_size)
                    _write_predictions(staging, predictions)
                    advance()
    metrics = metrics_frame(rows)
    higher_is_better = {name: registry.get("metric", name).higher_is_better for name in metrics["metric"].unique()}

    analysis_plan = _analysis_plan(plan, ensembles, higher_is_better,
                                   {name: registry.get("metric", name).fn for name in higher_is_better})
    lookup = {(t.config.name, v.label): (t, v) for t in plan.tests for v in t.variants}

    def load_predictions(ensemble: str, test: str, variant: str) -> PredictionSet:
        test_run, variant_spec = lookup[(test, variant)]
        return load_unit(ensemble, test_run, variant_spec)

    # Unchanged inputs, settings and code: the tables of an earlier run (engine/stats_cache.py).
    statistics = StatisticsCache(folder.path, enabled=not options.fresh)
    statistics_key = stats_key(plan, analysis_plan, metrics, unit_keys, cache.folder, metadata, audit, registry)
    cached = statistics.get(statistics_key)
    tables: MutableMapping[str, pd.DataFrame]
    if cached is not None:
        tables, analysis_notes = cached
        warnings += analysis_notes
    else:
        # scipy.stats and these were imported on a thread while the members ran, if any did (engine/warmup.py);
        # wait for that thread, so that no module is imported by two threads in different orders
        from uspec_audit.engine import warmup

        warmup.wait()
        from uspec_audit.stats.analyze import analyze
        from uspec_audit.stats.corruption import corruption_summary
        from uspec_audit.stats.differences import differences

        noted = len(warnings)
        with progress.step("Ensemble statistics", None):
            tables = analyze(metrics, load_predictions, analysis_plan, audit.analysis, audit.audit.seed, notes=warnings)
        with progress.step("Multi-bootstrap differences", None):
            tables["differences"] = differences(load_predictions, analysis_plan, audit.analysis, audit.audit.seed)
        tables["metrics"] = metrics
        if any(t.config.kind == "perturbed" for t in plan.tests):
            tables["corruptions"] = corruption_summary(metrics, {t.config.name: t.config.baseline for t in plan.tests})
        flips = contrastive_flips(plan, load_predictions, audit)
        if flips is not None:
            tables["flips"] = flips
        tables["contracts"] = check_contracts([t.config for t in plan.tests], tables["summary"], flips, higher_is_better)
        check_result_tables(tables)  # as the catalog declares them, before they are stored or written
        tables = statistics.put(statistics_key, tables, warnings[noted:])
    timings = {"load_s": load_seconds, "inference_s": inference_seconds,
               "analysis_s": time.perf_counter() - analysis_started, "units_computed": inferred.computed,
               "units_reused": inferred.reused}
    warnings += [w for w in cache.warnings + statistics.warnings if w not in warnings]
    return _Computed(tables, ensembles, readers, metadata, fingerprints, unit_keys, timings, warnings,
                     inferred.execution, {"statistics_key": statistics_key, "statistics_reused": cached is not None})


def _write(loaded: LoadedAudit, registry, plan: Plan, options: RunOptions, progress: Progress, computed: _Computed,
           staging: Path, output: Path, started: tuple[float, str]) -> RunOutcome:
    """Tables, then the reports (rendered from the tables and a first manifest), then the final manifest."""
    write_tables(computed.tables, staging)  # a cached table: the very bytes the first run wrote
    started_wall, started_at = started
    timings = dict(computed.timings)

    def manifest(extra_warnings: list[str]) -> dict:
        timings["total_s"] = time.perf_counter() - started_wall
        record = build_manifest(loaded, plan, computed.ensembles, computed.readers, computed.metadata,
                                computed.fingerprints, output, options.command, computed.warnings + extra_warnings,
                                started_at, timings, unit_records(plan, computed.unit_keys), registry)
        record["execution"] = computed.execution
        return record

    formats: set[str] = set(loaded.model.audit.reports) if options.reports is None else set(options.reports)
    reports_started = time.perf_counter()
    rendered = Rendered()
    if formats or options.pdf:
        # The reports read the folder they describe, so they see (and cite the sha256 of) this first
        # manifest; the final one adds the report timing, the reports' warnings and the file list, and
        # records the sha256 the reports cite as report_source_sha256 (an earlier run's, when reused).
        first = manifest([])
        write_json(first, staging / MANIFEST)
        source = file_records(staging, [MANIFEST])[0]["sha256"]
        rendered = render_or_reuse(staging, formats, options.pdf, progress, output, first, source, options.fresh)
        (staging / MANIFEST).unlink()
    timings["reports_s"] = time.perf_counter() - reports_started
    written, report_warnings = rendered.written, rendered.warnings
    final = manifest(report_warnings)
    final["reports"] = written
    final["report_source_sha256"] = rendered.source_sha256
    final.update(computed.reuse | rendered.manifest_fields())
    final["files"] = file_records(staging, [f for f in _staged_files(staging) if f != MANIFEST])
    write_json(final, staging / MANIFEST)  # last: only now is the staged folder complete
    return RunOutcome(output=output, tables=computed.tables, manifest=final,
                      warnings=computed.warnings + report_warnings, report_warnings=report_warnings)


def _staged_files(staging: Path) -> list[str]:
    """Every file staged so far; leftovers of the report renderer (temporary files) are removed first."""
    names = []
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            if path.name.endswith(".tmp"):
                path.unlink()
                continue
            names.append(path.relative_to(staging).as_posix())
    return names


def _prediction_set(unit: UnitPredictions, ensemble: LoadedEnsemble, test_run, variant, meta: pd.DataFrame) -> PredictionSet:
    ids = meta["id"].to_numpy()
    if len(ids) != len(unit.ids) or not np.array_equal(ids, unit.ids):
        raise RunError(f"dataset '{test_run.config.dataset}': the example ids of the stream differ from the "
                       f"dataset's metadata; ids must be stable.")
    attributes = {column: meta[column].to_numpy() for column in meta.columns if column not in ("id", "target")}
    return PredictionSet(ensemble=ensemble.name, test=test_run.config.name, variant=variant.label,
                         task=ensemble.config.task, members=list(unit.members), ids=unit.ids, target=unit.target,
                         outputs=unit.outputs, attributes=attributes,
                         groups=list(ensemble.groups) if any(g is not None for g in ensemble.groups) else None)


def _write_predictions(output: Path, predictions: PredictionSet) -> None:
    folder = (output / "predictions" / f"ensemble={quote(predictions.ensemble, safe='')}"
              / f"test={quote(predictions.test, safe='')}" / f"variant={quote(predictions.variant, safe='')}")
    write_result_table("predictions", predictions_frame(predictions), folder / "part-0.parquet")


def _analysis_plan(plan: Plan, ensembles: dict, higher_is_better: dict, metric_functions: dict | None = None) -> AnalysisPlan:
    ensemble_plans = []
    for name, ensemble in ensembles.items():
        groups = tuple(ensemble.groups) if any(g is not None for g in ensemble.groups) else None
        ensemble_plans.append(EnsemblePlan(name=name, task=ensemble.config.task, members=tuple(ensemble.member_names),
                                           reference=plan.references.get(name), groups=groups))
    test_plans = tuple(
        TestPlan(name=t.config.name, kind=t.config.kind, ensembles=tuple(t.ensembles),
                 metrics=tuple(sorted({m for e in t.ensembles
                                       for m in metrics_for(ensembles[e].config.task, t.config.metrics)})),
                 by=tuple(t.config.by_list), variants=tuple(v.label for v in t.variants))
        for t in plan.tests
    )
    return AnalysisPlan(ensembles=tuple(ensemble_plans), tests=test_plans, higher_is_better=higher_is_better,
                        metric_functions=metric_functions or {})
