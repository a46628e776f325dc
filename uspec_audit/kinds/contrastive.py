"""``contrastive``: matched sets -- rows linked by ``link``, or each example with its perturbed versions --
and the label flips (and decision flips, with calibrated ``threshold``) within them (``flips.parquet``)."""

from __future__ import annotations

from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from uspec_audit.components import TestKindSpec
from uspec_audit.config.loaded import did_you_mean
from uspec_audit.kind_api import CheckRequest, Problem, TablesRequest, Variant, VariantRequest
from uspec_audit.kinds.attributes import attribute_problems
from uspec_audit.kinds.perturbations import PerturbationParams, perturbation_problems, perturbation_variants


class DecisionThreshold(BaseModel):
    """How each member's decision threshold is calibrated on the iid test (docs/methods.md §9)."""

    model_config = ConfigDict(extra="forbid")

    positive_class: int = Field(1, ge=0, description="Class whose probability is the risk score.")
    target: Literal["positive_rate", "precision", "recall"] = Field("positive_rate")
    value: float = Field(0.2, gt=0, lt=1, description="Target positive rate, precision or recall.")


class ContrastiveParams(PerturbationParams):
    """The keys of a contrastive test."""

    link: str | None = Field(None, description="Attribute linking rows of one matched set.")
    original: dict[str, str | int] | None = Field(
        None, description="With link: attribute values marking the original row of a set."
    )
    threshold: DecisionThreshold | None = Field(None, description="Decision thresholds (binary tasks).")


def check(request: CheckRequest) -> list[Problem]:
    params = cast(ContrastiveParams, request.params)
    problems = []
    if not (params.link or params.perturbs):
        problems.append(
            Problem(
                "a contrastive test needs `link` (a column linking matched rows) or `perturbations` "
                "(transformations of each example)."
            )
        )
    if params.link:
        problems += attribute_problems(request, [params.link], "link", "link ")
    if request.dataset is not None:
        attributes = request.dataset.attributes
        problems += [
            Problem(
                f"`original` names '{name}', which is not an attribute of dataset "
                f"'{request.test.dataset}'.{did_you_mean(str(name), attributes)}",
                ("original",),
            )
            for name in params.original or {}
            if name not in attributes
        ]
    problems += perturbation_problems(params, request.registry)
    return problems


def variants(request: VariantRequest) -> list[Variant]:
    """The original examples, then each perturbed version of them."""
    params = cast(ContrastiveParams, request.params)
    if not params.perturbs:
        return [Variant()]
    return [Variant(), *perturbation_variants(params, request.registry, request.test.name, request.where)]


def tables(request: TablesRequest) -> dict:
    from uspec_audit.kinds.flips import contrastive_flips

    flips = contrastive_flips(request)
    return {} if flips is None else {"flips": flips}


KIND = TestKindSpec(
    name="contrastive",
    doc="Matched sets (rows linked by `link`, or each example with its perturbed versions): flips and decision flips.",
    params=ContrastiveParams,
    check=check,
    variants=variants,
    tables=tables,
    produces=("flips",),
)
