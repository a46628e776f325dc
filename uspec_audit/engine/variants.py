"""Expand perturbed and contrastive tests into variants (perturbation x severity)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from uspec_audit.config.models import PerturbationRef, StressTest
from uspec_audit.errors import AuditFileError

UNPERTURBED = "none"


@dataclass(frozen=True)
class Variant:
    """One way of presenting a dataset: unperturbed, or a perturbation at a severity."""

    perturbation: str | None = None
    severity: int | None = None
    params: BaseModel | None = None
    params_json: str = ""

    @property
    def label(self) -> str:
        if self.perturbation is None:
            return UNPERTURBED
        return f"{self.perturbation}@{self.severity}" if self.severity is not None else self.perturbation


class _SuiteEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    severities: list[int] | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class _SuiteHeader(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""


class SuiteFile(BaseModel):
    """The contents of a suite TOML file."""

    model_config = ConfigDict(extra="forbid")
    suite: _SuiteHeader
    perturbations: list[_SuiteEntry] = Field(min_length=1)


def read_suite(path: Path) -> SuiteFile:
    """Read and validate a suite file."""
    try:
        return SuiteFile.model_validate(tomllib.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as error:
        raise AuditFileError(f"{path}: invalid suite file: {error}") from error


def perturbation_refs(test: StressTest, registry) -> list[PerturbationRef]:
    """The perturbations a test names, from its suite and/or its inline list."""
    refs: list[PerturbationRef] = []
    if test.suite is not None:
        suite = read_suite(registry.get("suite", test.suite).path)
        for entry in suite.perturbations:
            severities = entry.severities
            if test.severities is not None:
                severities = [s for s in (severities or test.severities) if s in test.severities]
            refs.append(PerturbationRef(name=entry.name, severities=severities, params=entry.params))
    refs.extend(test.perturbations or [])
    return refs


def expand_variants(test: StressTest, registry, where: str = "") -> list[Variant]:
    """The variants of one test: ``[none]`` for unperturbed kinds, else one per perturbation and severity."""
    if test.kind not in ("perturbed", "contrastive") or not (test.suite or test.perturbations):
        return [Variant()]
    variants: list[Variant] = []
    for ref in perturbation_refs(test, registry):
        spec = registry.get("perturbation", ref.name)
        params = None
        if spec.params is not None:
            try:
                params = spec.params.model_validate(ref.params)
            except ValidationError as error:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg']}" for e in error.errors()
                )
                raise AuditFileError(
                    f"{where}: parameters of perturbation '{ref.name}' in test '{test.name}' are invalid: {problems}."
                ) from error
        elif ref.params:
            raise AuditFileError(f"{where}: perturbation '{ref.name}' takes no parameters, got {sorted(ref.params)}.")
        severities: list[int | None] = list(ref.severities or spec.severities or [None])
        for severity in severities:
            if severity is not None and spec.severities and severity not in spec.severities:
                raise AuditFileError(
                    f"{where}: perturbation '{ref.name}' has severities {list(spec.severities)}; got {severity}."
                )
            params_json = params.model_dump_json() if params is not None else ""
            variants.append(Variant(ref.name, severity, params, params_json))
    if test.kind == "perturbed":
        return variants
    return [Variant(), *variants]
