"""Editing a metric plugin's code recomputes the statistics (and reuses the predictions); nothing else does.

The package ``uspec-audit-rerunmetric`` registers a metric whose function lives in a module of its own. After
an edit of that installed module (no version bump) the next run reuses every prediction but recomputes the
statistics, and the new code's values are in the tables.
"""

from __future__ import annotations

import shutil

from plugin_packages import pip_install, site_env, write_package

from uspec_audit.testing import TinyAudit

METRIC = """
    import numpy as np


    def top1(target, prediction, task):
        return float(np.mean(np.argmax(prediction, axis=1) == target))
"""

PLUGIN = """
    from uspec_audit import MetricSpec, hookimpl
    from uspec_audit_rerunmetric.metric import top1


    @hookimpl
    def uspec_audit_register_metrics(register):
        register(MetricSpec("rerun/top1", top1, ("multiclass", "binary"), True, "top-1 accuracy, again"))
"""

TESTS = """
    [[tests]]
    name = "by-site"
    kind = "stratified"
    dataset = "test"
    by = "site"
    metrics = ["accuracy", "rerun/top1"]
"""


def _edit(site, old: str, new: str) -> None:
    module = site / "uspec_audit_rerunmetric" / "metric.py"
    text = module.read_text()
    assert old in text
    module.write_text(text.replace(old, new))
    shutil.rmtree(module.parent / "__pycache__", ignore_errors=True)  # never run a stale compiled copy


def _reuse(run) -> tuple[int, bool]:
    return run.json["timings"]["units_computed"], run.manifest["statistics_reused"]


def test_a_changed_metric_plugin_recomputes_the_statistics(tmp_path):
    project = write_package(
        tmp_path / "pkg",
        "uspec-audit-rerunmetric",
        "1.0",
        {"metric.py": METRIC, "plugin.py": PLUGIN},
        {"rerunmetric": "plugin"},
    )
    site = pip_install(tmp_path / "site", project)
    world = TinyAudit(tmp_path / "world")
    env = site_env(site)

    first = world.run(TESTS, env=env).ok()
    assert _reuse(first)[1] is False
    first_key = first.manifest["statistics_key"]  # (the manifest is read from the folder: keep it now)
    again = world.run(TESTS, env=env).ok()
    assert _reuse(again) == (0, True)
    values = again.table("metrics").query("metric == 'rerun/top1'")["value"].to_numpy()

    # Code that gives the same member values (the metrics table is unchanged) still counts: the statistics
    # call the metric on resamples too, so its identity is part of the key.
    _edit(site, "def top1(target, prediction, task):", "def top1(target, prediction, task):  # same values")
    same = world.run(TESTS, env=env).ok()
    assert _reuse(same) == (0, False)
    assert (same.table("metrics").query("metric == 'rerun/top1'")["value"].to_numpy() == values).all()

    _edit(site, "return float(np.mean(", "return 0.5 * float(np.mean(")
    changed = world.run(TESTS, env=env).ok()
    assert _reuse(changed) == (0, False)  # predictions reused, statistics recomputed
    assert changed.manifest["statistics_key"] != first_key
    halved = changed.table("metrics").query("metric == 'rerun/top1'")["value"].to_numpy()
    assert (halved == 0.5 * values).all()  # the new code ran
    assert _reuse(world.run(TESTS, env=env).ok()) == (0, True)
