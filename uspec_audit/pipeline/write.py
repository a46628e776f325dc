"""The write stage: the result tables, then the reports (rendered from the staged folder and a first
manifest), then the final manifest -- the last file, so a folder is complete only when it exists."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from pathlib import Path

import pandas as pd

from uspec_audit.config.checked import CheckedAudit
from uspec_audit.engine.infer import Inferred
from uspec_audit.engine.plan import Plan
from uspec_audit.engine.progress import Progress
from uspec_audit.engine.stats_cache import write_tables
from uspec_audit.pipeline.manifest import build_manifest, file_records, unit_records
from uspec_audit.pipeline.outcome import RunOutcome
from uspec_audit.pipeline.reports import Rendered, render_or_reuse
from uspec_audit.results.folder import MANIFEST
from uspec_audit.results.writer import write_json


def write_results(
    audit: CheckedAudit,
    registry,
    plan: Plan,
    options,
    progress: Progress,
    inferred: Inferred,
    tables: MutableMapping[str, pd.DataFrame],
    timings: dict,
    warnings: list[str],
    staging: Path,
    output: Path,
    started: tuple[float, str],
    reuse: dict | None = None,
):
    """Tables, then the reports (rendered from the tables and a first manifest), then the final manifest;
    returns the :class:`~uspec_audit.pipeline.outcome.RunOutcome`."""

    loaded = audit.loaded
    write_tables(tables, staging)  # a cached table: the very bytes the first run wrote
    started_wall, started_at = started
    timings = dict(timings)

    def manifest(extra_warnings: list[str]) -> dict:
        timings["total_s"] = time.perf_counter() - started_wall
        record = build_manifest(
            loaded,
            plan,
            inferred.ensembles,
            inferred.readers,
            inferred.metadata,
            inferred.fingerprints,
            output,
            options.command,
            warnings + extra_warnings,
            started_at,
            timings,
            unit_records(plan, inferred.unit_keys),
            registry,
        )
        record["execution"] = inferred.execution
        return record

    formats = set(loaded.model.audit.reports) if options.reports is None else set(options.reports)
    reports_started = time.perf_counter()
    rendered = Rendered()
    if formats or options.pdf:
        # The reports read the folder they describe, so they see (and cite the sha256 of) this first
        # manifest; the final one adds the report timing, the reports' warnings and the file list, and
        # records the sha256 the reports cite as report_source_sha256 (an earlier run's, when reused).
        first = manifest([])
        write_json(first, staging / MANIFEST)
        source = file_records(staging, [MANIFEST])[0]["sha256"]
        rendered = render_or_reuse(
            staging, formats, options.pdf, progress, output, first, source, options.fresh
        )
        (staging / MANIFEST).unlink()
    timings["reports_s"] = time.perf_counter() - reports_started
    written, report_warnings = rendered.written, rendered.warnings
    final = manifest(report_warnings)
    final["reports"] = written
    final["report_source_sha256"] = rendered.source_sha256
    final.update((reuse or {}) | rendered.manifest_fields())
    final["files"] = file_records(staging, [f for f in _staged_files(staging) if f != MANIFEST])
    write_json(final, staging / MANIFEST)  # last: only now is the staged folder complete
    return RunOutcome(
        output=output,
        tables=tables,
        manifest=final,
        warnings=warnings + report_warnings,
        report_warnings=report_warnings,
    )


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
