"""Per-member metrics: classification, calibration and regression.

Each metric is a plain function ``fn(target, prediction, task) -> float``
registered as a :class:`uspec_audit.components.MetricSpec` by
:func:`register_builtin_metrics`; :func:`to_probabilities` turns a member's
raw outputs (logits, probabilities, scores) into the metrics' inputs.
"""

from __future__ import annotations

from uspec_audit.metrics.calibration import ece, expected_calibration_error, reliability_curve
from uspec_audit.metrics.classification import (
    accuracy,
    auc,
    balanced_accuracy,
    brier,
    nll,
    norm_pr_auc,
    pr_auc,
    top5_accuracy,
    top_k_accuracy,
)
from uspec_audit.metrics.outputs import OUTPUT_KINDS, to_probabilities
from uspec_audit.metrics.registry import BUILTIN_METRICS, METRIC_NAMES, register_builtin_metrics
from uspec_audit.metrics.regression import mae, mse, nmse

__all__ = [
    "BUILTIN_METRICS",
    "METRIC_NAMES",
    "OUTPUT_KINDS",
    "accuracy",
    "auc",
    "balanced_accuracy",
    "brier",
    "ece",
    "expected_calibration_error",
    "mae",
    "mse",
    "nll",
    "nmse",
    "norm_pr_auc",
    "pr_auc",
    "reliability_curve",
    "register_builtin_metrics",
    "to_probabilities",
    "top5_accuracy",
    "top_k_accuracy",
]
