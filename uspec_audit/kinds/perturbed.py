"""``perturbed``: a dataset under registered perturbations at one or more severities (``suite`` or
``perturbations``). Contributes ``corruptions.parquet`` (corruption error and CE relative to a ``baseline``
ensemble, Hendrycks & Dietterich 2019) and REx domain sets over its variants."""

from __future__ import annotations

from typing import cast

from pydantic import Field

from uspec_audit.components import TestKindSpec
from uspec_audit.kind_api import CheckRequest, Problem, TablesRequest, Variant, VariantRequest
from uspec_audit.kinds.perturbations import PerturbationParams, perturbation_problems, perturbation_variants


class PerturbedParams(PerturbationParams):
    """The keys of a perturbed test."""

    baseline: str | None = Field(None, description="Ensemble used as baseline for relative error (mCE).")


def check(request: CheckRequest) -> list[Problem]:
    params = cast(PerturbedParams, request.params)
    problems = [] if params.perturbs else [Problem("a perturbed test needs `suite` or `perturbations`.")]
    problems += perturbation_problems(params, request.registry)
    if params.baseline is not None:
        if params.baseline not in request.audit.ensembles:
            problems.append(Problem(f"unknown baseline ensemble '{params.baseline}'.", ("baseline",)))
        elif params.baseline not in request.ensembles:
            problems.append(
                Problem(
                    f"the baseline ensemble '{params.baseline}' must be one of the test's ensembles "
                    f"{request.test.ensembles}.",
                    ("baseline",),
                )
            )
    return problems


def variants(request: VariantRequest) -> list[Variant]:
    return perturbation_variants(
        cast(PerturbedParams, request.params), request.registry, request.test.name, request.where
    )


def tables(request: TablesRequest) -> dict:
    from uspec_audit.stats.corruption import corruption_summary

    return {
        "corruptions": corruption_summary(
            request.metrics, {t.name: cast(PerturbedParams, t.params).baseline for t in request.tests}
        )
    }


KIND = TestKindSpec(
    name="perturbed",
    doc="A dataset under registered perturbations at one or more severities (`suite` or `perturbations`).",
    params=PerturbedParams,
    check=check,
    variants=variants,
    rex_domains="variants",
    tables=tables,
    produces=("corruptions",),
)
