"""What a test kind receives and returns (:class:`uspec_audit.TestKindSpec`).

A test kind turns one ``[[tests]]`` entry into work and results, in four steps
that the engine runs for every kind alike (the five built-in kinds in
:mod:`uspec_audit.kinds` are written with exactly these types):

1. **parameters**: the keys of the test table beyond the common ones (``name``,
   ``kind``, ``dataset``, ``ensembles``, ``metrics``, ``contract``) are validated
   by the kind's ``params`` model (unknown keys are errors, with a did-you-mean);
2. **check** (``check(CheckRequest) -> [Problem]``): what the model cannot check
   alone (an attribute the dataset lacks, an unknown perturbation); each problem
   is reported at the file:line of its key;
3. **variants** (``variants(VariantRequest) -> [Variant]``): the presentations of the
   dataset the test runs (unperturbed, perturbation x severity) and **strata**
   (``strata(params) -> Strata | None``): the attributes each variant is split on;
4. **tables** (``tables(TablesRequest) -> {name: DataFrame}``): result tables of its own,
   computed after the statistics from the per-member metrics and the predictions.

This module imports nothing heavy; pandas and pydantic appear in annotations only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    import pandas as pd
    from pydantic import BaseModel

UNPERTURBED = "none"


@dataclass(frozen=True)
class Variant:
    """One way of presenting a dataset: unperturbed, or a perturbation at a severity.

    Attributes:
        perturbation: the registered perturbation's name, ``None`` for the unperturbed data.
        severity: its severity (``None`` for perturbations without severities).
        params: the perturbation's validated parameters (an instance of its ``params`` model).
        params_json: ``params`` as JSON: part of the stream's identity (two variants with the same
            perturbation and severity but other parameters are two streams).
    """

    perturbation: str | None = None
    severity: int | None = None
    params: BaseModel | None = None
    params_json: str = ""

    @property
    def label(self) -> str:
        """``none``, ``name@severity`` or ``name``: the ``variant`` column of every result table."""
        if self.perturbation is None:
            return UNPERTURBED
        return f"{self.perturbation}@{self.severity}" if self.severity is not None else self.perturbation


@dataclass(frozen=True)
class Strata:
    """How a test splits its examples: by the values of ``by`` (one attribute or a combination).

    ``min_size``: a stratum with fewer examples is an error; ``max_count``: more strata than this is an
    error (an id-like attribute), counted on the data before any model runs.
    """

    by: tuple[str, ...]
    min_size: int = 1
    max_count: int = 100


@dataclass(frozen=True)
class Problem:
    """A problem :meth:`TestKindSpec.check` found: ``message`` (a sentence), ``key`` the key path under the
    test where it is (``("by",)``; empty: the test itself), ``missing`` ``(family, name)`` when a registered
    component is missing (then the message of a plugin that failed to load is added)."""

    message: str
    key: tuple[str | int, ...] = ()
    missing: tuple[str, str] | None = None


@dataclass(frozen=True)
class CheckRequest:
    """What :meth:`TestKindSpec.check` receives.

    Attributes:
        test: the test's common keys (``name``, ``kind``, ``dataset``, ``ensembles``, ``metrics``, ``contract``).
        params: the validated instance of the kind's ``params`` model (``None`` without one).
        dataset: the ``[datasets.NAME]`` table the test names (``None`` when no such table exists); its
            ``attributes`` are the columns a kind may split on or link by.
        ensembles: the ``[ensembles.NAME]`` tables the test runs, by name.
        registry: the plugin registry (``registry.names("perturbation")``, ``registry.get(family, name)``).
        audit: the whole audit file (its ``ensembles``, ``datasets`` and ``tests``).
    """

    test: Any
    params: BaseModel | None
    dataset: Any
    ensembles: Mapping[str, Any]
    registry: Any
    audit: Any = None


@dataclass(frozen=True)
class VariantRequest:
    """What :meth:`TestKindSpec.variants` receives: the test, its params, the registry, and ``where``
    (``file:line`` of the test, for the :class:`~uspec_audit.AuditFileError` an invalid variant raises)."""

    test: Any
    params: BaseModel | None
    registry: Any
    where: str = ""


@dataclass(frozen=True)
class KindTest:
    """One test of a kind as :meth:`TestKindSpec.tables` sees it."""

    __test__ = False  # not a pytest test class, despite its name

    name: str
    dataset: str
    params: BaseModel | None
    ensembles: tuple[str, ...]
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class TablesRequest:
    """What :meth:`TestKindSpec.tables` receives, once per run for all tests of the kind.

    Attributes:
        tests: the kind's tests in audit order.
        metrics: the per-member metrics table (``metrics.parquet``: one row per ensemble, member, test,
            variant, stratum and metric).
        load_predictions: ``load_predictions(ensemble, test, variant_label) -> PredictionSet``: members'
            outputs, targets, ids and attributes of one unit (read from the cache, one at a time).
        references: each ensemble's iid reference test (``None`` when it has none).
        seed: the audit seed; derive every random draw from it
            (``uspec_audit.stats.seeding.rng_for(seed, "my-statistic", ...)``).
        registry: the plugin registry (a metric's direction: ``registry.get("metric", name).higher_is_better``).
    """

    tests: tuple[KindTest, ...]
    metrics: pd.DataFrame
    load_predictions: Callable[[str, str, str], Any]
    references: Mapping[str, str | None]
    seed: int
    registry: Any = None
