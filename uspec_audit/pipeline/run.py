"""Run an audit end to end, as named stages: infer -> measure -> analyze -> contracts -> write.

- **infer** (:func:`uspec_audit.engine.infer.infer`): open the datasets, load the members, stream every
  (dataset, variant) once through every member that needs it; predictions go to the cache;
- **measure** (:func:`uspec_audit.pipeline.measure.measure`): per-member metrics of every unit, and the
  prediction files;
- **analyze** (:func:`uspec_audit.pipeline.analysis.analyze_run`): ensemble statistics, differences, and each
  test kind's own tables -- or, with the contracts, an earlier run's tables when nothing they depend on changed
  (:func:`analyze_and_check`);
- **contracts** (:func:`contracts_stage`): the tests' bounds, PASS/FAIL;
- **write** (:func:`uspec_audit.pipeline.write.write_results`): tables, reports, and last the manifest.

The run claims its results folder (:mod:`uspec_audit.results.folder`), holds
its writer lock for the whole run (:mod:`uspec_audit.results.lock`), and
assembles tables, predictions, reports and -- last -- the manifest in a
staging folder that it then commits (:mod:`uspec_audit.results.staging`). A run
that fails or is interrupted before the commit leaves the previous complete
results untouched; the folder is complete only when ``manifest.json`` says
``"status": "complete"``.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from uspec_audit.config.checked import CheckedAudit
from uspec_audit.config.trust import allowed_code
from uspec_audit.contracts import check_contracts
from uspec_audit.engine.infer import Inferred, infer
from uspec_audit.engine.plan import Plan, build_plan
from uspec_audit.engine.progress import Progress
from uspec_audit.engine.stats_cache import StatisticsCache, statistics_key
from uspec_audit.errors import AuditFileError
from uspec_audit.pipeline.analysis import analysis_plan, analyze_run
from uspec_audit.pipeline.measure import measure
from uspec_audit.pipeline.outcome import RunOutcome
from uspec_audit.pipeline.strata import check_strata
from uspec_audit.pipeline.units import UnitReader
from uspec_audit.pipeline.write import write_results
from uspec_audit.results.catalog import TABLES
from uspec_audit.results.folder import ResultsFolder
from uspec_audit.results.lock import writer_lock
from uspec_audit.results.staging import Staging, recover
from uspec_audit.results.writer import check_result_tables
from uspec_audit.signals import interrupted


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


def execute_audit(
    audit: CheckedAudit, registry, options: RunOptions, progress: Progress | None = None
) -> RunOutcome:
    """Run the checked audit and commit every result file; raise a :class:`~uspec_audit.errors.UspecError` on
    failure (the previous results then stay as they were)."""
    progress = progress or Progress()
    started = time.perf_counter(), datetime.now(UTC).isoformat(timespec="seconds")
    output = _output_folder(audit, options)
    plan = _plan(audit, registry, options)
    folder = ResultsFolder.claim(output)
    with (
        writer_lock(folder.path, wait=options.wait, command=options.command),
        allowed_code(options.allow_code),
    ):
        notes = recover(folder)
        with Staging(folder) as staging:
            warnings = list(audit.warnings) + notes
            inferred = infer(
                audit,
                registry,
                plan,
                folder.cache_dir,
                fresh=options.fresh,
                device=options.device,
                progress=progress,
                warnings=warnings,
                check_metadata=lambda metadata: check_strata(audit.loaded, plan, metadata),
                executor=options.executor,
                address=options.address,
                allow_code=options.allow_code,
            )
            analysis_started = time.perf_counter()
            units = UnitReader(plan, inferred)
            metrics = measure(plan, units, registry, progress, staging.path)
            tables, reuse = analyze_and_check(
                audit,
                registry,
                plan,
                inferred,
                units,
                metrics,
                folder.path,
                options.fresh,
                progress,
                warnings,
            )
            timings = {
                **{k: inferred.timings[k] for k in ("load_s", "inference_s")},
                "analysis_s": time.perf_counter() - analysis_started,
                **{k: inferred.timings[k] for k in ("units_computed", "units_reused")},
            }
            warnings += [w for w in inferred.cache.warnings if w not in warnings]
            outcome = write_results(
                audit,
                registry,
                plan,
                options,
                progress,
                inferred,
                tables,
                timings,
                warnings,
                staging.path,
                output,
                started,
                reuse,
            )
            # a library swallowed the KeyboardInterrupt: still never commit an interrupted run
            if interrupted():
                raise KeyboardInterrupt
            staging.commit()
    outcome.reports = [output / name for name in outcome.manifest["reports"]]
    return outcome


def analyze_and_check(
    audit: CheckedAudit,
    registry,
    plan: Plan,
    inferred: Inferred,
    units: UnitReader,
    metrics: pd.DataFrame,
    results: Path,
    fresh: bool,
    progress: Progress,
    warnings: list[str],
) -> tuple[MutableMapping[str, pd.DataFrame], dict]:
    """The analyze and contracts stages, or their tables from an earlier run when nothing they depend on changed
    (:mod:`uspec_audit.engine.stats_cache`). Returns the tables and the manifest's ``statistics_key`` /
    ``statistics_reused``; ``warnings`` (the run's) gains the analysis notes and any cache notice."""
    stats_plan = analysis_plan(plan, inferred.ensembles, registry, metrics["metric"].unique())
    statistics = StatisticsCache(results, enabled=not fresh)
    key = statistics_key(
        plan,
        stats_plan,
        metrics,
        inferred.unit_keys,
        inferred.cache.folder,
        inferred.metadata,
        audit.model,
        registry,
    )
    cached = statistics.get(key)
    tables: MutableMapping[str, pd.DataFrame]
    if cached is not None:
        tables, analysis_notes = cached
        warnings += analysis_notes
    else:
        noted = len(warnings)
        tables = analyze_run(
            metrics, plan, inferred.ensembles, units.load, audit, registry, progress, warnings, stats_plan
        )
        tables["contracts"] = contracts_stage(plan, tables, stats_plan.higher_is_better)
        # the catalog's tables as it declares them, before they are stored or written (a plugin kind's own tables
        # are not in the catalog)
        check_result_tables({name: frame for name, frame in tables.items() if name in TABLES})
        tables = statistics.put(key, dict(tables), warnings[noted:])
    warnings += [w for w in statistics.warnings if w not in warnings]
    return tables, {"statistics_key": key, "statistics_reused": cached is not None}


def contracts_stage(
    plan: Plan, tables: MutableMapping[str, pd.DataFrame], higher_is_better: dict[str, bool]
) -> pd.DataFrame:
    """The contracts table: every bound of every test, PASS or FAIL."""
    references = frozenset(t.config.name for t in plan.tests if t.kind.reference)
    return check_contracts(
        [t.config for t in plan.tests],
        tables["summary"],
        tables.get("flips"),
        higher_is_better,
        references=references,
    )


def _output_folder(audit: CheckedAudit, options: RunOptions) -> Path:
    """``--out``, else the audit's ``[audit] output`` (which must stay inside the audit file's folder)."""
    if options.output is not None:
        return Path(options.output).expanduser().resolve()
    from uspec_audit.config.trust import output_problem

    problem = output_problem(audit.loaded)
    if problem:
        raise AuditFileError(problem)
    return audit.loaded.output_dir.resolve()


def _plan(audit: CheckedAudit, registry, options: RunOptions) -> Plan:
    tests = [t.name for t in audit.tests]
    unknown = [name for name in options.only if name not in tests]
    if unknown:
        raise AuditFileError(f"--only: unknown test(s) {unknown}; tests are {tests}.")
    return build_plan(audit, registry, options.only or None)
