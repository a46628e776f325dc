"""Per-member metrics for every (ensemble, test, variant, stratum)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from uspec_audit.config.check import DEFAULT_METRICS
from uspec_audit.conformance import Blame
from uspec_audit.engine.strata import ALL, strata
from uspec_audit.errors import RunError
from uspec_audit.results.catalog import column_names
from uspec_audit.results.prediction_set import PredictionSet


def metric_rows(predictions: PredictionSet, kind: str, metrics: list[str], by: list[str], registry,
                perturbation: str | None, severity: int | None, min_stratum_size: int = 1) -> list[dict]:
    """Rows of ``metrics.parquet`` for one ensemble on one (test, variant)."""
    records = [registry.record("metric", name) for name in metrics]
    target = predictions.target
    if predictions.is_classification:
        target = target.astype(np.int64)
    groups: list[str | None] = list(predictions.groups) if predictions.groups else [None] * len(predictions.members)
    parts = [(ALL, np.ones(len(target), dtype=bool))]
    where = f"test '{predictions.test}' of ensemble '{predictions.ensemble}'"
    for label, mask in strata(predictions.attributes, by, where):
        if mask.sum() < min_stratum_size:
            raise RunError(f"{where}: stratum '{label}' has {int(mask.sum())} examples, fewer than "
                           f"min_stratum_size = {min_stratum_size}.")
        parts.append((label, mask))
    rows = []
    for stratum, mask in parts:
        n = int(mask.sum())
        for m, member in enumerate(predictions.members):
            output = predictions.outputs[m][mask].astype(np.float64)
            for record in records:
                value = _metric_value(record, target[mask], output, predictions.task, n,
                                      f"{where} ({predictions.variant}), member '{member}', stratum '{stratum}'")
                rows.append({
                    "ensemble": predictions.ensemble, "member": member, "group": groups[m],
                    "test": predictions.test, "kind": kind, "variant": predictions.variant,
                    "perturbation": perturbation, "severity": severity, "stratum": stratum, "n": n,
                    "metric": record.name, "value": value,
                })
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


