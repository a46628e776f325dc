"""The built-in metric registrations."""

from __future__ import annotations

import math

import numpy as np

from uspec_audit.components import TASKS, MetricSpec
from uspec_audit.metrics import METRIC_NAMES, register_builtin_metrics

EXPECTED = {
    "accuracy": True,
    "top5_accuracy": True,
    "balanced_accuracy": True,
    "auc": True,
    "pr_auc": True,
    "norm_pr_auc": True,
    "nll": False,
    "brier": False,
    "ece": False,
    "mse": False,
    "nmse": False,
    "mae": False,
}


def collect() -> list[MetricSpec]:
    specs: list[MetricSpec] = []
    register_builtin_metrics(specs.append)
    return specs


def test_registered_names_and_directions():
    specs = collect()
    assert [s.name for s in specs] == list(METRIC_NAMES)
    assert len(set(METRIC_NAMES)) == len(METRIC_NAMES)
    assert {s.name: s.higher_is_better for s in specs} == EXPECTED
    for spec in specs:
        assert isinstance(spec, MetricSpec) and spec.doc
        assert set(spec.tasks) <= set(TASKS)
        expected_tasks = ("regression",) if spec.name in ("mse", "nmse", "mae") else ("multiclass", "binary")
        assert spec.tasks == expected_tasks


def test_every_metric_runs_on_each_of_its_tasks():
    rng = np.random.default_rng(0)
    data = {
        "multiclass": (rng.integers(0, 4, 60), rng.dirichlet(np.ones(4), 60)),
        "binary": (rng.integers(0, 2, 60), rng.dirichlet(np.ones(2), 60)),
        "regression": (rng.normal(size=60), rng.normal(size=60)),
    }
    for spec in collect():
        for task in spec.tasks:
            value = spec.fn(*data[task], task)
            assert isinstance(value, float) and math.isfinite(value), (spec.name, task)


def test_norm_pr_auc_cites_boyd():
    spec = next(s for s in collect() if s.name == "norm_pr_auc")
    assert "Boyd" in spec.source
