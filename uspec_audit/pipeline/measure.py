"""The measure stage: per-member metrics for every (ensemble, test, variant, stratum), and the prediction files."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from uspec_audit.config.models import DEFAULT_METRICS
from uspec_audit.conformance import Blame
from uspec_audit.engine.plan import Plan
from uspec_audit.engine.progress import Progress
from uspec_audit.errors import RunError
from uspec_audit.pipeline.strata import ALL, strata
from uspec_audit.results.catalog import column_names
from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.results.predictions import predictions_frame
from uspec_audit.results.writer import write_result_table


def metric_rows(
    predictions: PredictionSet,
    kind: str,
    metrics: list[str],
    by: list[str],
    registry,
    perturbation: str | None,
    severity: int | None,
    min_stratum_size: int = 1,
) -> list[dict]:
    """Rows of ``metrics.parquet`` for one ensemble on one (test, variant)."""
    records = [registry.record("metric", name) for name in metrics]
    target = predictions.target
    if predictions.is_classification:
        target = target.astype(np.int64)
    groups: list[str | None] = (
        list(predictions.groups) if predictions.groups else [None] * len(predictions.members)
    )
    parts = [(ALL, np.ones(len(target), dtype=bool))]
    where = f"test '{predictions.test}' of ensemble '{predictions.ensemble}'"
    for label, mask in strata(predictions.attributes, by, where):
        if mask.sum() < min_stratum_size:
            raise RunError(
                f"{where}: stratum '{label}' has {int(mask.sum())} examples, fewer than "
                f"min_stratum_size = {min_stratum_size}."
            )
        parts.append((label, mask))
    rows = []
    for stratum, mask in parts:
        n = int(mask.sum())
        for m, member in enumerate(predictions.members):
            output = predictions.outputs[m][mask].astype(np.float64)
            for record in records:
                value = _metric_value(
                    record,
                    target[mask],
                    output,
                    predictions.task,
                    n,
                    f"{where} ({predictions.variant}), member '{member}', stratum '{stratum}'",
                )
                rows.append(
                    {
                        "ensemble": predictions.ensemble,
                        "member": member,
                        "group": groups[m],
                        "test": predictions.test,
                        "kind": kind,
                        "variant": predictions.variant,
                        "perturbation": perturbation,
                        "severity": severity,
                        "stratum": stratum,
                        "n": n,
                        "metric": record.name,
                        "value": value,
                    }
                )
    return rows


def _metric_value(record, target: np.ndarray, output: np.ndarray, task: str, n: int, where: str) -> float:
    """One metric on one member's outputs; an error inside a plugin's metric names the plugin and where."""
    if not n:
        return float("nan")
    try:
        with np.errstate(all="ignore"):
            return float(record.spec.fn(target, output, task))
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as error:
        raise Blame.of(record, "metric").error(f"failed on {where}", error) from error


def metrics_frame(rows: list[dict]) -> pd.DataFrame:
    """The rows as a typed DataFrame in the documented column order."""
    frame = pd.DataFrame(rows, columns=column_names("metrics"))
    frame["severity"] = frame["severity"].astype("Int64")
    frame["n"] = frame["n"].astype(np.int64)
    frame["value"] = frame["value"].astype(np.float64)
    return frame


def metrics_for(task: str, requested: list[str] | None) -> list[str]:
    """The test's metrics, or the task's defaults."""
    return list(requested) if requested else list(DEFAULT_METRICS[task])


def measure(plan: Plan, units, registry, progress: Progress, staging: Path) -> pd.DataFrame:
    """The ``metrics`` table of every unit of ``plan`` (``units``: a :class:`~uspec_audit.pipeline.units.UnitReader`);
    each unit's predictions are written under ``staging/predictions`` on the way."""
    rows: list[dict] = []
    n_units = sum(len(t.variants) * len(t.ensembles) for t in plan.tests)
    with progress.step("Per-member metrics", n_units) as advance:
        for test_run in plan.tests:
            strata_of = test_run.strata
            by = list(strata_of.by) if strata_of is not None else []
            min_size = strata_of.min_size if strata_of is not None else 1
            for variant in test_run.variants:
                for ensemble in test_run.ensembles:
                    predictions = units.unit(ensemble, test_run, variant)
                    names = metrics_for(predictions.task, test_run.config.metrics)
                    rows += metric_rows(
                        predictions,
                        test_run.kind.name,
                        names,
                        by,
                        registry,
                        variant.perturbation,
                        variant.severity,
                        min_size,
                    )
                    write_predictions(staging, predictions)
                    advance()
    return metrics_frame(rows)


def write_predictions(output: Path, predictions: PredictionSet) -> None:
    """``predictions/ensemble=E/test=T/variant=V/part-0.parquet`` under ``output``."""
    folder = (
        output
        / "predictions"
        / f"ensemble={quote(predictions.ensemble, safe='')}"
        / f"test={quote(predictions.test, safe='')}"
        / f"variant={quote(predictions.variant, safe='')}"
    )
    write_result_table("predictions", predictions_frame(predictions), folder / "part-0.parquet")
