"""Plan an audit: which (dataset, variant) streams feed which ensembles and tests.

A *work group* is one dataset under one variant. It is read, decoded and
perturbed once per batch and fed to every member of every ensemble that
needs it; a *unit* is one ensemble on one work group and is what the cache
stores. Tests that share a dataset and variant (iid and stratified on the same
test set) share their predictions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from uspec_audit.components import TestKindSpec
from uspec_audit.config.checked import CheckedAudit, CheckedTest, MemberRef
from uspec_audit.config.models import StressTest
from uspec_audit.kind_api import Strata, Variant


@dataclass(frozen=True)
class TestRun:
    """One checked test of the audit and the ensembles it covers."""

    __test__ = False  # not a pytest test class, despite its name

    checked: CheckedTest
    ensembles: list[str]

    @property
    def index(self) -> int:
        return self.checked.index

    @property
    def config(self) -> StressTest:
        return self.checked.config

    @property
    def kind(self) -> TestKindSpec:
        return self.checked.kind

    @property
    def params(self) -> Any:
        return self.checked.params

    @property
    def variants(self) -> tuple[Variant, ...]:
        return self.checked.variants

    @property
    def strata(self) -> Strata | None:
        return self.checked.strata


@dataclass
class WorkGroup:
    """One dataset under one variant, and the ensembles that consume it."""

    dataset: str
    variant: Variant
    ensembles: list[str] = field(default_factory=list)
    code_identity: str = ""  # the perturbation's code identity (uspec_audit.identity); part of its unit keys

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dataset, self.variant.label, self.variant.params_json)


@dataclass
class Plan:
    """The whole audit as work to do."""

    tests: list[TestRun]
    groups: list[WorkGroup]
    members: Mapping[str, tuple[MemberRef, ...]]
    references: Mapping[str, str | None]

    @property
    def unit_count(self) -> int:
        """Work units: one ensemble on one (dataset, variant) stream, the unit the cache stores. Tests that
        share a stream (iid and stratified on one dataset) share its unit; `run` computes or reuses exactly
        these, and `validate` counts them."""
        return sum(len(group.ensembles) for group in self.groups)


def build_plan(audit: CheckedAudit, registry, only: list[str] | None = None) -> Plan:
    """Group the checked tests' variants by (dataset, variant); ``only`` keeps those tests (and the references)."""
    tests: list[TestRun] = []
    groups: dict[tuple, WorkGroup] = {}
    for checked in audit.tests:
        test = checked.config
        reference_of = {e for e, ref in audit.references.items() if ref == test.name}
        if only and test.name not in only and not reference_of:
            continue  # the reference test always runs: every other test is compared with it
        ensembles = list(test.ensembles or audit.model.ensembles)
        tests.append(TestRun(checked, ensembles))
        for variant in checked.variants:
            key = (test.dataset, variant.label, variant.params_json)
            if key not in groups:
                identity = (
                    registry.identity("perturbation", variant.perturbation) if variant.perturbation else ""
                )
                groups[key] = WorkGroup(test.dataset, variant, code_identity=identity)
            group = groups[key]
            for ensemble in ensembles:
                if ensemble not in group.ensembles:
                    group.ensembles.append(ensemble)
    return Plan(tests=tests, groups=list(groups.values()), members=audit.members, references=audit.references)
