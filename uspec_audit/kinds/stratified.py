"""``stratified``: the same examples split by one attribute or a combination (``by``); metrics, statistics and
the strata verdicts per stratum."""

from __future__ import annotations

from typing import cast

from uspec_audit.components import TestKindSpec
from uspec_audit.kind_api import CheckRequest, Problem, Strata
from uspec_audit.kinds.attributes import StrataParams, attribute_problems


class StratifiedParams(StrataParams):
    """The keys of a stratified test."""


def check(request: CheckRequest) -> list[Problem]:
    """Every ``by`` attribute must be declared by the dataset."""
    return attribute_problems(request, cast(StratifiedParams, request.params).by, "by", "")


def strata(params: StratifiedParams) -> Strata:
    return params.strata()


KIND = TestKindSpec(
    name="stratified",
    doc="The same examples split by one attribute or a combination (`by`); metrics per stratum.",
    params=StratifiedParams,
    check=check,
    strata=strata,
    # the whole-test rows are the reference's own examples: nothing to compare
    compare_with_reference=False,
)
