"""Dataset attributes as test-kind parameters: splitting (``by``) and linking (``link``) need declared ones."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from uspec_audit.config.loaded import did_you_mean
from uspec_audit.kind_api import CheckRequest, Problem, Strata


def attribute_problems(request: CheckRequest, names, key: str, what: str) -> list[Problem]:
    """A problem for each of ``names`` the test's dataset does not declare in ``attributes`` (``what``: a prefix
    such as ``"link "``)."""
    dataset = request.dataset
    if dataset is None:
        return []
    return [
        Problem(
            f"{what}'{name}' is not an attribute of dataset '{request.test.dataset}'."
            f"{did_you_mean(str(name), dataset.attributes)} Declare it in [datasets.{request.test.dataset}] "
            f"attributes = [...].",
            (key,),
        )
        for name in names
        if name not in dataset.attributes
    ]


class StrataParams(BaseModel):
    """``by``, ``min_stratum_size``, ``max_strata``: how a test splits its examples into strata."""

    model_config = ConfigDict(extra="forbid")

    by: str | list[str] = Field(description="Attribute(s) to split on: one name or a list (a combination).")
    min_stratum_size: int = Field(1, ge=1, description="Strata with fewer examples are an error.")
    max_strata: int = Field(
        100,
        ge=1,
        le=100_000,
        description="More strata than this is an error (an id-like attribute); raise it if you mean it.",
    )

    @field_validator("by")
    @classmethod
    def _by_as_list(cls, value: str | list[str]) -> list[str]:
        value = [value] if isinstance(value, str) else value
        if not value:
            raise ValueError("name at least one attribute")
        return value

    def strata(self) -> Strata:
        """The :class:`~uspec_audit.Strata` these parameters describe."""
        return Strata(tuple(self.by), self.min_stratum_size, self.max_strata)
