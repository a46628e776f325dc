"""The plugin author's testing kit: checks for each component kind, and a tiny audit run end to end.

In a plugin's tests::

    from uspec_audit.testing import check_perturbation, check_metric, check_loader, check_source

    def test_vignette():
        check_perturbation("mypkg/vignette", images)          # shape, dtype, range, seeding, monotone

    def test_in_an_audit(uspec_tiny_audit):                   # the pytest fixture, installed with uspec-audit
        run = uspec_tiny_audit.run(TESTS_USING_MY_COMPONENTS).ok()
        assert set(run.table("metrics")["variant"]) == {...}

Components are named as registered (the plugin must be installed) or given as
spec objects. Every check raises :class:`ComponentCheckError`, an
``AssertionError``, listing every problem. ``docs/plugins.md`` explains each.
"""

from uspec_audit.testing.checks import (
    ComponentCheckError,
    check_loader,
    check_metric,
    check_plugin,
    check_source,
    check_tokenizer,
    registered,
)
from uspec_audit.testing.perturbations import PerturbationReport, check_perturbation, mean_absolute_change
from uspec_audit.testing.world import AuditRun, TinyAudit, write_linear_onnx

__all__ = [
    "AuditRun",
    "ComponentCheckError",
    "PerturbationReport",
    "TinyAudit",
    "check_loader",
    "check_metric",
    "check_perturbation",
    "check_plugin",
    "check_source",
    "check_tokenizer",
    "mean_absolute_change",
    "registered",
    "write_linear_onnx",
]
