"""Perturbations and suites as test-kind parameters: the building block of ``perturbed``, ``contrastive``
and any plugin kind that perturbs its dataset.

A kind whose ``params`` model subclasses :class:`PerturbationParams` takes ``suite``, ``severities`` and
``perturbations`` exactly as the built-in kinds do; :func:`perturbation_problems` checks the names against
the registry and :func:`perturbation_variants` expands them into one :class:`~uspec_audit.Variant` per
perturbation and severity.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from uspec_audit.config.loaded import did_you_mean
from uspec_audit.config.models import PerturbationRef
from uspec_audit.errors import AuditFileError
from uspec_audit.kind_api import Problem, Variant


class PerturbationParams(BaseModel):
    """``suite``, ``severities`` and ``perturbations``: the perturbations a test applies."""

    model_config = ConfigDict(extra="forbid")

    suite: str | None = Field(None, description="A registered TOML suite of perturbations (e.g. imagenet-c).")
    severities: list[int] | None = Field(None, description="Restrict the suite to these severities.")
    perturbations: list[PerturbationRef] | None = Field(None, description="Perturbations, inline.")

    @property
    def perturbs(self) -> bool:
        """Whether any perturbation is named (by the suite or inline)."""
        return bool(self.suite or self.perturbations)


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


def _unknown(noun: str, name: str, registry, family: str) -> str:
    known = registry.names(family)
    return f"unknown {noun} '{name}'.{did_you_mean(name, known)} Registered: {', '.join(known) or 'none'}."


def perturbation_problems(params: PerturbationParams, registry) -> list[Problem]:
    """Unknown suite and perturbation names, each at its key."""
    problems = []
    if params.suite is not None and params.suite not in registry.names("suite"):
        problems.append(
            Problem(
                _unknown("suite", params.suite, registry, "suite"),
                ("suite",),
                missing=("suite", params.suite),
            )
        )
    for ref in params.perturbations or []:
        if ref.name not in registry.names("perturbation"):
            problems.append(
                Problem(
                    _unknown("perturbation", ref.name, registry, "perturbation"),
                    ("perturbations",),
                    missing=("perturbation", ref.name),
                )
            )
    return problems


def perturbation_refs(params: PerturbationParams, registry) -> list[PerturbationRef]:
    """The perturbations named, from the suite (restricted to ``severities``) and the inline list."""
    refs: list[PerturbationRef] = []
    if params.suite is not None:
        suite = read_suite(registry.get("suite", params.suite).path)
        for entry in suite.perturbations:
            severities = entry.severities
            if params.severities is not None:
                severities = [s for s in (severities or params.severities) if s in params.severities]
            refs.append(PerturbationRef(name=entry.name, severities=severities, params=entry.params))
    refs.extend(params.perturbations or [])
    return refs


def perturbation_variants(params: PerturbationParams, registry, test: str, where: str = "") -> list[Variant]:
    """One variant per perturbation and severity (each perturbation's parameters validated by its model);
    an :class:`~uspec_audit.AuditFileError` at ``where`` for invalid parameters or severities."""
    variants: list[Variant] = []
    for ref in perturbation_refs(params, registry):
        spec = registry.get("perturbation", ref.name)
        validated = None
        if spec.params is not None:
            try:
                validated = spec.params.model_validate(ref.params)
            except ValidationError as error:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg']}" for e in error.errors()
                )
                raise AuditFileError(
                    f"{where}: parameters of perturbation '{ref.name}' in test '{test}' are invalid: {problems}."
                ) from error
        elif ref.params:
            raise AuditFileError(
                f"{where}: perturbation '{ref.name}' takes no parameters, got {sorted(ref.params)}."
            )
        severities: list[int | None] = list(ref.severities or spec.severities or [None])
        for severity in severities:
            if severity is not None and spec.severities and severity not in spec.severities:
                raise AuditFileError(
                    f"{where}: perturbation '{ref.name}' has severities {list(spec.severities)}; got {severity}."
                )
            params_json = validated.model_dump_json() if validated is not None else ""
            variants.append(Variant(ref.name, severity, validated, params_json))
    return variants
