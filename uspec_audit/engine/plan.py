"""Plan an audit: which (dataset, variant) streams feed which ensembles and tests.

A *work group* is one dataset under one variant. It is read, decoded and
perturbed once per batch and fed to every member of every ensemble that
needs it; a *unit* is one ensemble on one work group and is what the cache
stores. Tests that share a dataset and variant (iid and stratified on the same
test set) share their predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from uspec_audit.config.check import MemberRef
from uspec_audit.config.load import LoadedAudit
from uspec_audit.config.models import StressTest
from uspec_audit.engine.variants import Variant, expand_variants


@dataclass
class TestRun:
    """One test of the audit with its variants and the ensembles it covers."""

    index: int
    config: StressTest
    variants: list[Variant]
    ensembles: list[str]


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
    members: dict[str, list[MemberRef]]
    references: dict[str, str | None]

    @property
    def unit_count(self) -> int:
        """Work units: one ensemble on one (dataset, variant) stream, the unit the cache stores. Tests that
        share a stream (iid and stratified on one dataset) share its unit; `run` computes or reuses exactly
        these, and `validate` counts them."""
        return sum(len(group.ensembles) for group in self.groups)


def build_plan(loaded: LoadedAudit, registry, only: list[str] | None = None) -> Plan:
    """Expand tests into variants and group them by (dataset, variant)."""
    audit = loaded.model
    checked = loaded.checked
    tests: list[TestRun] = []
    groups: dict[tuple, WorkGroup] = {}
    for index, test in enumerate(audit.tests):
        reference_of = {e for e, ref in checked.references.items() if ref == test.name}
        if only and test.name not in only and not reference_of:
            continue  # the reference test always runs: every other test is compared with it
        variants = expand_variants(test, registry, where=loaded.where("tests", index))
        ensembles = list(test.ensembles or audit.ensembles)
        tests.append(TestRun(index, test, variants, ensembles))
        for variant in variants:
            key = (test.dataset, variant.label, variant.params_json)
            if key not in groups:
                identity = registry.identity("perturbation", variant.perturbation) if variant.perturbation else ""
                groups[key] = WorkGroup(test.dataset, variant, code_identity=identity)
            group = groups[key]
            for ensemble in ensembles:
                if ensemble not in group.ensembles:
                    group.ensembles.append(ensemble)
    return Plan(tests=tests, groups=list(groups.values()), members=checked.members, references=checked.references)
