"""The built-in plugin: registered through the same hooks as any third-party plugin."""

from __future__ import annotations

from uspec_audit import hookimpl
from uspec_audit.components import (
    DatasetSourceSpec,
    LoaderSpec,
    MetricSpec,
    PerturbationSpec,
    ReportSectionSpec,
    SuiteSpec,
    TestKindSpec,
    TokenizerSpec,
)
from uspec_audit.protocols import Register


@hookimpl
def uspec_audit_register_loaders(register: Register[LoaderSpec]) -> None:
    from uspec_audit.models.onnx import ONNX_LOADER
    from uspec_audit.models.torch import TORCH_LOADER

    register(ONNX_LOADER)
    register(TORCH_LOADER)


@hookimpl
def uspec_audit_register_sources(register: Register[DatasetSourceSpec]) -> None:
    from uspec_audit.data.sources import BUILTIN_SOURCES

    for spec in BUILTIN_SOURCES:
        register(spec)


@hookimpl
def uspec_audit_register_perturbations(register: Register[PerturbationSpec]) -> None:
    from uspec_audit.perturb.image import register_image_perturbations
    from uspec_audit.perturb.sequence import register_sequence_perturbations
    from uspec_audit.perturb.tabular import register_tabular_perturbations
    from uspec_audit.perturb.text import register_text_perturbations

    register_image_perturbations(register)
    register_tabular_perturbations(register)
    register_sequence_perturbations(register)
    register_text_perturbations(register)


@hookimpl
def uspec_audit_register_metrics(register: Register[MetricSpec]) -> None:
    from uspec_audit.metrics.registry import register_builtin_metrics

    register_builtin_metrics(register)


@hookimpl
def uspec_audit_register_test_kinds(register: Register[TestKindSpec]) -> None:
    from uspec_audit.kinds import builtin_kinds

    for spec in builtin_kinds():
        register(spec)


@hookimpl
def uspec_audit_register_tokenizers(register: Register[TokenizerSpec]) -> None:
    from uspec_audit.models.tokenizers import TOKENIZERS

    register(TOKENIZERS)


@hookimpl
def uspec_audit_register_report_sections(register: Register[ReportSectionSpec]) -> None:
    from uspec_audit.report.builtin_sections import BUILTIN_SECTIONS

    for spec in BUILTIN_SECTIONS:
        register(spec)


@hookimpl
def uspec_audit_register_suites(register: Register[SuiteSpec]) -> None:
    from uspec_audit.perturb.image import SUITES

    for name, path in SUITES.items():
        register(SuiteSpec(name=name, path=path, doc=f"Built-in suite {name}"))
