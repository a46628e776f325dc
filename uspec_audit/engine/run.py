"""Run an audit end to end: load, stream, compute, analyse, check contracts, write results.

The results folder is complete only when ``manifest.json`` says
``"status": "complete"``; it is written last. A run that fails removes the
previous run's manifest first, so a folder never looks complete when it is not.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from uspec_audit import __version__
from uspec_audit.config.load import LoadedAudit
from uspec_audit.contracts import check_contracts
from uspec_audit.data.sources import open_dataset
from uspec_audit.engine.cache import PredictionCache, UnitPredictions
from uspec_audit.engine.contrastive import contrastive_flips
from uspec_audit.engine.executor import LoadedEnsemble
from uspec_audit.engine.inference import run_inference
from uspec_audit.engine.member_metrics import metric_rows, metrics_for, metrics_frame
from uspec_audit.engine.plan import Plan, build_plan
from uspec_audit.engine.progress import Progress
from uspec_audit.errors import RunError
from uspec_audit.fingerprint import file_sha256
from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.results.predictions import predictions_frame
from uspec_audit.results.writer import write_json, write_table
from uspec_audit.stats.corruption import corruption_summary
from uspec_audit.stats.differences import differences
from uspec_audit.stats.plan import AnalysisPlan, EnsemblePlan, TestPlan

RESULT_FILES = ("manifest.json", "metrics.parquet", "summary.parquet", "contracts.parquet", "correlations.parquet",
                "calibration.parquet", "pca.parquet", "marginalization.parquet", "rex.parquet", "flips.parquet",
                "disagreement.parquet", "corruptions.parquet", "differences.parquet", "report.html", "report.pdf", "report.md")


@dataclass
class RunOptions:
    """Command-line choices of ``uspec-audit run``."""

    output: Path | None = None
    device: str = "auto"
    fresh: bool = False
    only: list[str] = field(default_factory=list)
    command: str = ""


@dataclass
class RunOutcome:
    """What a finished run produced."""

    output: Path
    tables: dict[str, pd.DataFrame]
    manifest: dict
    warnings: list[str]

    @property
    def contracts_failed(self) -> int:
        contracts = self.tables.get("contracts")
        return 0 if contracts is None or contracts.empty else int((contracts["status"] == "FAIL").sum())


def _clear_previous(output: Path) -> None:
    """Remove the previous run's results (not the cache) so nothing stale looks current."""
    (output / "manifest.json").unlink(missing_ok=True)
    for name in RESULT_FILES:
        (output / name).unlink(missing_ok=True)
    shutil.rmtree(output / "predictions", ignore_errors=True)


def _load_ensembles(loaded: LoadedAudit, plan: Plan, registry, device: str, progress: Progress) -> dict:
    needed = sorted({e for group in plan.groups for e in group.ensembles})
    total = sum(len(plan.members[e]) for e in needed)
    ensembles: dict[str, LoadedEnsemble] = {}
    with progress.step("Loading models", total) as advance:
        for name in needed:
            config = loaded.model.ensembles[name]
            loader = registry.get("loader", config.loader)
            options = dict(config.options)
            if config.input_name:
                options["input_name"] = config.input_name
            options.setdefault("output_index", config.output_index)
            members = []
            for ref in plan.members[name]:
                try:
                    member = loader.load(ref.path, options, device)
                except RunError:
                    raise
                except Exception as error:
                    raise RunError(f"loader '{config.loader}' failed on {ref.path}: {type(error).__name__}: {error}") from error
                member.name = ref.name
                members.append(member)
                advance()
            tokenizer, tokenizer_fingerprint = _make_tokenizer(loaded, registry, name)
            ensembles[name] = LoadedEnsemble(name, config, members, [ref.group for ref in plan.members[name]],
                                             tokenizer, tokenizer_fingerprint)
    return ensembles


def _make_tokenizer(loaded: LoadedAudit, registry, name: str):
    """The ensemble's tokenizer (text models) and a fingerprint of its file, or (None, "")."""
    ref = loaded.model.ensembles[name].tokenizer
    if ref is None:
        return None, ""
    options = {"max_length": ref.max_length, **ref.options}
    fingerprint = ""
    if ref.path is not None:
        path = loaded.resolve(ref.path)
        options["path"] = str(path)
        fingerprint = file_sha256(path)
    try:
        return registry.get("tokenizer", ref.name).make(options, loaded.base_dir), fingerprint
    except Exception as error:
        raise RunError(f"ensemble '{name}': tokenizer '{ref.name}' failed to load: {type(error).__name__}: "
                       f"{error}") from error


def _open_readers(loaded: LoadedAudit, plan: Plan, registry) -> dict:
    readers = {}
    for name in sorted({group.dataset for group in plan.groups}):
        config = loaded.model.datasets[name]
        try:
            readers[name] = open_dataset(registry.get("source", config.source), config, loaded.base_dir)
        except RunError as error:
            raise RunError(f"dataset '{name}': {error}") from error
        except Exception as error:
            raise RunError(f"dataset '{name}' ({config.source}): {type(error).__name__}: {error}") from error
    return readers


def execute_audit(loaded: LoadedAudit, registry, options: RunOptions, progress: Progress | None = None) -> RunOutcome:
    """Run the audit and write every result file; raise :class:`RunError` on a run-time failure."""
    progress = progress or Progress()
    audit = loaded.model
    started_wall, started_at = time.perf_counter(), datetime.now(UTC).isoformat(timespec="seconds")
    output = (options.output or loaded.output_dir).resolve()
    unknown = [name for name in options.only if name not in {t.name for t in audit.tests}]
    if unknown:
        from uspec_audit.errors import AuditFileError

        raise AuditFileError(f"--only: unknown test(s) {unknown}; tests are {[t.name for t in audit.tests]}.")
    plan = build_plan(loaded, registry, options.only or None)
    output.mkdir(parents=True, exist_ok=True)
    _clear_previous(output)
    cache = PredictionCache(output / ".cache" / "predictions", enabled=not options.fresh)
    cache.remove_partial_writes()
    warnings = list(loaded.checked.warnings)

    readers = _open_readers(loaded, plan, registry)
    metadata = {name: reader.metadata() for name, reader in readers.items()}
    fingerprints = {name: reader.fingerprint() for name, reader in readers.items()}
    load_started = time.perf_counter()
    ensembles = _load_ensembles(loaded, plan, registry, options.device, progress)
    load_seconds = time.perf_counter() - load_started

    # Stream every (dataset, variant) once through all members that still need it.
    inference_started = time.perf_counter()
    inferred = run_inference(plan, readers, fingerprints, ensembles, cache, registry, audit.audit.seed,
                             audit.audit.batch_size, options.device, progress)
    unit_keys, computed, reused = inferred.unit_keys, inferred.computed, inferred.reused
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
            raise RunError(f"the stored predictions of unit {key} vanished during the run ({cache.folder}).")
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
                    _write_predictions(output, predictions)
                    advance()
    metrics = metrics_frame(rows)
    higher_is_better = {name: registry.get("metric", name).higher_is_better for name in metrics["metric"].unique()}

    analysis_plan = _analysis_plan(plan, ensembles, higher_is_better)
    lookup = {(t.config.name, v.label): (t, v) for t in plan.tests for v in t.variants}

    def load_predictions(ensemble: str, test: str, variant: str) -> PredictionSet:
        test_run, variant_spec = lookup[(test, variant)]
        return load_unit(ensemble, test_run, variant_spec)

    from uspec_audit.stats.analyze import analyze

    with progress.step("Ensemble statistics", None):
        tables = analyze(metrics, load_predictions, analysis_plan, audit.analysis, audit.audit.seed)
    with progress.step("Multi-bootstrap differences", None):
        tables["differences"] = differences(load_predictions, analysis_plan, audit.analysis, audit.audit.seed)
    tables["metrics"] = metrics
    if any(t.config.kind == "perturbed" for t in plan.tests):
        tables["corruptions"] = corruption_summary(metrics, {t.config.name: t.config.baseline for t in plan.tests})
    flips = contrastive_flips(plan, load_predictions, audit)
    if flips is not None:
        tables["flips"] = flips
    tables["contracts"] = check_contracts([t.config for t in plan.tests], tables["summary"], flips, higher_is_better)
    analysis_seconds = time.perf_counter() - analysis_started

    for name, frame in tables.items():
        write_table(frame, output / f"{name}.parquet")
    manifest = _manifest(loaded, plan, ensembles, readers, metadata, fingerprints, options, warnings, started_at, {
        "total_s": time.perf_counter() - started_wall, "load_s": load_seconds, "inference_s": inference_seconds,
        "analysis_s": analysis_seconds, "units_computed": computed, "units_reused": reused,
    }, registry)
    write_json(manifest, output / "manifest.json")
    return RunOutcome(output=output, tables=tables, manifest=manifest, warnings=warnings)


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
    write_table(predictions_frame(predictions), folder / "part-0.parquet")


def _analysis_plan(plan: Plan, ensembles: dict, higher_is_better: dict) -> AnalysisPlan:
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
    return AnalysisPlan(ensembles=tuple(ensemble_plans), tests=test_plans, higher_is_better=higher_is_better)


def _manifest(loaded: LoadedAudit, plan: Plan, ensembles: dict, readers: dict, metadata: dict, fingerprints: dict,
              options: RunOptions, warnings: list[str], started_at: str, timings: dict, registry) -> dict:
    audit = loaded.model
    return {
        "status": "complete",
        "tool": {"name": "uspec-audit", "version": __version__},
        "plugins": registry.plugins,
        "audit": {"path": str(loaded.path), "sha256": loaded.sha256, "text": loaded.text, "name": audit.audit.name,
                  "title": audit.audit.title, "seed": audit.audit.seed},
        "command": options.command or f"uspec-audit run {loaded.path}",
        "ensembles": [
            {"name": name, "loader": e.config.loader, "task": e.config.task, "output": e.config.output,
             "reference": plan.references.get(name),
             "members": [{"name": m.name, "path": str(ref.path), "sha256": m.fingerprint, "group": ref.group,
                          "providers": list(m.providers)}
                         for m, ref in zip(e.members, plan.members[name], strict=True)]}
            for name, e in ensembles.items()
        ],
        "datasets": [
            {"name": name, "source": audit.datasets[name].source, "path": str(reader.path),
             "sha256": reader.content_hash(), "fingerprint": fingerprints[name], "n_examples": int(len(metadata[name])),
             "synthetic": audit.datasets[name].synthetic}
            for name, reader in readers.items()
        ],
        "tests": [
            {"name": t.config.name, "kind": t.config.kind, "dataset": t.config.dataset, "ensembles": t.ensembles,
             "metrics": t.config.metrics, "by": t.config.by_list, "variants": [v.label for v in t.variants]}
            for t in plan.tests
        ],
        "analysis": audit.analysis.model_dump(),
        "timings": timings,
        "host": {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(),
                 "cpu_count": os.cpu_count()},
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "notes": warnings,
    }
