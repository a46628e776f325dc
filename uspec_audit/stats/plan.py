"""What the analysis needs to know about an audit, independent of how it ran."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TestPlan:
    """One stress test as the analysis sees it.

    ``kind``: the name of its kind (iid, stratified, ... or a plugin kind), written into the tables.
    ``by``: the attribute names the test splits on (empty without strata).
    ``variants``: the variant labels of this test (``"none"`` for unperturbed,
    ``"<perturbation>@<severity>"`` for perturbed ones).
    ``compare_with_reference`` and ``rex_domains``: what the kind says
    (:class:`uspec_audit.TestKindSpec`): whether the differences table compares the test with the
    reference, and which of its units form REx domain sets (``strata``, ``variants``, ``pooled``).
    """

    __test__ = False  # not a pytest test class, despite its name

    name: str
    kind: str
    ensembles: tuple[str, ...]
    metrics: tuple[str, ...]
    by: tuple[str, ...] = ()
    variants: tuple[str, ...] = ("none",)
    compare_with_reference: bool = True
    rex_domains: str = "strata"


@dataclass(frozen=True)
class EnsemblePlan:
    """One ensemble as the analysis sees it.

    ``reference``: the name of the test that serves as iid reference (None when the ensemble has no iid test).
    ``groups``: per-member group labels for nested-seed analysis, or None.
    """

    name: str
    task: str
    members: tuple[str, ...]
    reference: str | None
    groups: tuple[str | None, ...] | None = None
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisPlan:
    """The ensembles and tests of an audit, with metric directions.

    ``higher_is_better``: name -> the registered metric's direction (``MetricSpec.higher_is_better``);
    every metric of the ``metrics`` table must be in it.

    ``metric_functions``: name -> the registered metric's ``fn(target,
    prediction, task)``. The verdict tests resample every metric from its own
    per-example predictions; metrics without a built-in recipe (AUC, PR-AUC,
    plugin metrics) are recomputed with this function, and have no verdict
    test when it is missing (docs/methods.md §14).
    """

    ensembles: tuple[EnsemblePlan, ...]
    tests: tuple[TestPlan, ...]
    higher_is_better: dict[str, bool]
    metric_functions: dict[str, Callable[..., float]] = field(default_factory=dict)
