"""Hook implementations of the template plugin (entry point ``template``).

Each component lives in its own module, so that changing one recomputes only the cached results it produced
(a component's identity hashes the modules that define it; see docs/plugins.md, "Caching").
"""

from __future__ import annotations

from uspec_audit import (
    DatasetSourceSpec,
    LoaderSpec,
    MetricSpec,
    PerturbationSpec,
    Register,
    ReportSectionSpec,
    TestKindSpec,
    hookimpl,
)
from uspec_audit_template.csv_source import CsvOptions, open_csv
from uspec_audit_template.gap_section import GAP_SECTION
from uspec_audit_template.group_gap import GROUP_GAP
from uspec_audit_template.linear import LinearOptions, load_linear
from uspec_audit_template.metrics import error_rate
from uspec_audit_template.vignette import VignetteParams, vignette


@hookimpl
def uspec_audit_register_perturbations(register: Register[PerturbationSpec]) -> None:
    register(
        PerturbationSpec(
            name="template/vignette",
            apply=vignette,
            modality="image",
            params=VignetteParams,
            severities=(1, 2, 3, 4, 5),
            doc="Darkened image corners (lens vignetting).",
            source="uspec-audit template",
        )
    )


@hookimpl
def uspec_audit_register_metrics(register: Register[MetricSpec]) -> None:
    register(
        MetricSpec(
            name="template/error_rate",
            fn=error_rate,
            tasks=("multiclass", "binary"),
            higher_is_better=False,
            doc="1 - accuracy.",
            source="uspec-audit template",
        )
    )


@hookimpl
def uspec_audit_register_loaders(register: Register[LoaderSpec]) -> None:
    register(
        LoaderSpec(
            name="template/linear",
            load=load_linear,
            suffixes=(".npz",),
            options=LinearOptions,
            doc="Linear classifier in an .npz file (weight, bias); options: temperature.",
        )
    )


@hookimpl
def uspec_audit_register_sources(register: Register[DatasetSourceSpec]) -> None:
    register(
        DatasetSourceSpec(
            name="template/csv",
            open=open_csv,
            options=CsvOptions,
            doc="CSV file of numeric features; options: delimiter, decimal, encoding.",
        )
    )


@hookimpl
def uspec_audit_register_test_kinds(register: Register[TestKindSpec]) -> None:
    register(GROUP_GAP)


@hookimpl
def uspec_audit_register_report_sections(register: Register[ReportSectionSpec]) -> None:
    register(GAP_SECTION)
