"""Specifications of the components that plugins register.

Every built-in component is registered through the same hooks as a
third-party one (see :mod:`uspec_audit.hookspecs`); these frozen dataclasses
are what the ``register`` callbacks accept. Specs only ever gain fields with
defaults, so a plugin written against this version keeps working.

Components whose output is cached (loaders, sources, tokenizers,
perturbations) carry a ``version``: the cache key holds the component's
*identity* -- its plugin's distribution name and version, a hash of the
source of the modules that define it (:mod:`uspec_audit.identity`) and this
declared ``version``. Bump ``version`` when behaviour changes through
something the code hash cannot see (a data file the component reads, a
dependency's behaviour).

This module imports nothing heavy (numpy and pydantic appear in annotations only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uspec_audit.protocols import (
    DatasetReader,
    LoadRequest,
    Member,
    SourceRequest,
    Tokenizer,
    TokenizerRequest,
)

if TYPE_CHECKING:  # pragma: no cover - types only
    import numpy as np
    import pandas as pd
    from pydantic import BaseModel

    from uspec_audit.kind_api import CheckRequest, Problem, Strata, TablesRequest, Variant, VariantRequest

MODALITIES = ("image", "tabular", "sequence", "text")
TASKS = ("multiclass", "binary", "regression")


@dataclass(frozen=True)
class FeatureStats:
    """Per-feature statistics of a dataset (computed once by the engine, streaming), each ``(F,)`` float64."""

    mean: np.ndarray
    sd: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray


@dataclass(frozen=True)
class PerturbContext:
    """Everything a perturbation receives beside the inputs.

    Attributes:
        seeds: one ``uint64`` per example, derived from (audit seed, example id, perturbation name,
            severity). Build every random draw from it, per example
            (``np.random.default_rng(seed)``), never from a global generator: then a re-run, a resumed
            run, another batch size or a sharded run perturbs each example identically.
        severity: the severity being applied (``None`` for perturbations without severities).
        params: the validated instance of ``PerturbationSpec.params`` (``None`` without a model).
        feature_names: the dataset's feature names (tabular), else ``None``.
        feature_stats: per-feature mean/sd/min/max of the unperturbed dataset when the spec sets
            ``needs_feature_stats``, else ``None``.
        device: ``cpu`` or ``cuda``: where the perturbation may run (the inputs and the result are
            ``numpy`` either way).
        ids: the examples' ids, aligned with ``seeds``.
    """

    seeds: np.ndarray
    severity: int | None = None
    params: BaseModel | None = None
    feature_names: list[str] | None = None
    feature_stats: FeatureStats | None = None
    device: str = "cpu"
    ids: np.ndarray | None = None


@dataclass(frozen=True)
class PerturbationSpec:
    """A perturbation applied to raw inputs before the ensemble's preprocessing.

    Attributes:
        name: unique among perturbations; third-party names carry a prefix (``"mypkg/vignette"``).
        apply: ``apply(inputs, ctx: PerturbContext) -> outputs``. Outputs keep the inputs' shape and
            dtype (``uint8`` images stay ``uint8`` in 0..255) or, for text, the same structure (a list
            stays a list, one string per string). Deterministic given ``ctx.seeds`` and independent of
            which other examples share the batch. The engine checks the first batch of every run and
            warns otherwise; :func:`uspec_audit.testing.check_perturbation` checks it in your tests.
        modality: ``image``, ``tabular``, ``sequence`` or ``text``.
        doc: one line shown by ``uspec-audit plugins`` and in the schema.
        source: where the perturbation comes from (paper, benchmark).
        params: a pydantic model of the audit file's ``params = {...}``; unknown keys are errors and
            its JSON Schema joins the audit schema.
        severities: the severities it takes (usually 1..5); empty when it has none.
        needs_feature_stats: the engine computes ``ctx.feature_stats`` first (one extra pass).
        version: part of the cache key (see the module docstring).
    """

    name: str
    apply: Callable[[Any, PerturbContext], Any]
    modality: str
    doc: str
    source: str = ""
    params: type[BaseModel] | None = None
    severities: tuple[int, ...] = ()
    needs_feature_stats: bool = False
    version: str = "1"


@dataclass(frozen=True)
class MetricSpec:
    """A per-member metric.

    ``fn(target, prediction, task) -> float``: for ``multiclass``/``binary`` tasks ``prediction`` is
    a ``float64`` array of class probabilities ``(n, K)`` (``K = 2`` for binary) and ``target``
    integer labels ``(n,)``; for ``regression`` both are ``float64`` ``(n,)``. Return a float, NaN
    when the metric is undefined on this data (e.g. AUC with one class present). It must not modify
    its arguments and must not depend on the order of the examples.
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray, str], float]
    tasks: tuple[str, ...]
    higher_is_better: bool
    doc: str
    source: str = ""


@dataclass(frozen=True)
class LoaderSpec:
    """A model loader: ``load(request: LoadRequest) -> Member``.

    Attributes:
        suffixes: the file suffixes it reads (``(".onnx",)``); validation refuses a member file whose
            suffix another loader claims and warns about other suffixes. Empty: any file or folder.
        options: a pydantic model of the ensemble's ``options = {...}``; the loader receives the
            validated instance as ``request.options``. Unknown keys are errors; its JSON Schema joins
            the audit schema. ``None``: the loader takes no options.
        version: part of the cache key (see the module docstring).
    """

    name: str
    load: Callable[[LoadRequest], Member]
    suffixes: tuple[str, ...]
    doc: str
    options: type[BaseModel] | None = None
    version: str = "1"


@dataclass(frozen=True)
class DatasetSourceSpec:
    """A dataset source: ``open(request: SourceRequest) -> DatasetReader``.

    Attributes:
        options: a pydantic model of the dataset table's ``options = {...}``; the source receives the
            validated instance as ``request.options``. ``None``: the source takes no options.
        version: part of the cache key (see the module docstring).
    """

    name: str
    open: Callable[[SourceRequest], DatasetReader]
    doc: str
    options: type[BaseModel] | None = None
    version: str = "1"


@dataclass(frozen=True)
class TestKindSpec:
    """A stress-test kind: how a ``[[tests]]`` entry becomes variants, strata, statistics and tables.

    The five built-in kinds (:mod:`uspec_audit.kinds`) are registered with this spec through the same
    hook as a plugin's, and the engine treats every kind alike. The types the callables receive and
    return are in :mod:`uspec_audit.kind_api` (exported from :mod:`uspec_audit`).

    Attributes:
        name: unique among kinds (``kind = "NAME"`` in the test table); third-party names carry a prefix.
        doc: one line shown by ``uspec-audit plugins`` and in the schema.
        params: a pydantic model of the test table's keys beyond the common ones (``by``,
            ``perturbations``, ...). Unknown keys are errors; its JSON Schema joins the audit schema
            (``if kind == NAME``). ``None``: the kind takes no keys of its own.
        check: ``check(CheckRequest) -> list[Problem]``: problems the model cannot see (an attribute
            the dataset lacks); each is reported at its key's file:line with every other problem.
        variants: ``variants(VariantRequest) -> list[Variant]``: the presentations of the dataset the
            test runs, the first usually ``Variant()`` (unperturbed). ``None``: ``[Variant()]``.
            :func:`uspec_audit.kinds.perturbation_variants` expands perturbations and suites.
        strata: ``strata(params) -> Strata | None``: the attributes every variant is split on (per-stratum
            metrics, statistics and strata verdicts). ``None``: the whole test only.
        reference: a test of this kind can be an ensemble's iid reference (the first one is, unless the
            ensemble names its ``reference``); contracts on the sd ratio of such a test bound its strata.
        compare_with_reference: the multi-bootstrap differences compare the test with the reference
            (False when its whole-test rows are the reference's own examples, as for ``stratified``).
        rex_domains: which units form a REx domain set (docs/methods.md): ``"strata"`` (each variant's
            strata), ``"variants"`` (every variant's whole test, with the reference), ``"pooled"`` (the
            whole test joins one set with every other test of the kind and the reference, named after it).
        tables: ``tables(TablesRequest) -> {name: DataFrame}``: result tables of its own, written as
            ``NAME.parquet`` (called once per run with all tests of the kind).
        produces: the names of the tables ``tables`` returns (``("flips",)``): a contract bound on a table
            the kind does not produce is refused when the audit is validated.
    """

    __test__ = False  # not a pytest test class, despite the name

    name: str
    doc: str
    params: type[BaseModel] | None = None
    check: Callable[[CheckRequest], Sequence[Problem]] | None = None
    variants: Callable[[VariantRequest], Sequence[Variant]] | None = None
    strata: Callable[[Any], Strata | None] | None = None
    reference: bool = False
    compare_with_reference: bool = True
    rex_domains: str = "strata"
    tables: Callable[[TablesRequest], Mapping[str, pd.DataFrame]] | None = None
    produces: tuple[str, ...] = ()


@dataclass(frozen=True)
class TokenizerSpec:
    """A text preprocessor: ``make(request: TokenizerRequest) -> Tokenizer``.

    An ensemble names it in ``tokenizer = { name = "...", path = "...", options = {...} }``.

    Attributes:
        options: a pydantic model of ``tokenizer.options``; ``None``: it takes none.
        version: part of the cache key (see the module docstring).
    """

    name: str
    make: Callable[[TokenizerRequest], Tokenizer]
    doc: str
    options: type[BaseModel] | None = None
    version: str = "1"


@dataclass(frozen=True)
class SuiteSpec:
    """A TOML file defining a reusable set of perturbations and severities."""

    name: str
    path: Path
    doc: str = ""


@dataclass(frozen=True)
class ReportSectionSpec:
    """A section of the HTML report (and so of the PDF), optionally of the Markdown report too.

    The report's own sections (executive summary, scope, methodology, results by ensemble and per test,
    limitations, reproducibility) are registered with this spec through the same hook. Sections render from
    the results folder alone (its tables and manifest), in ``order``; one that returns ``None`` or ``""``
    is left out of the page and of the contents.

    Attributes:
        name: unique among sections; also the section's anchor (``#NAME``) in the page.
        title: the entry in the table of contents.
        html: ``html(request: SectionRequest) -> str | None``: the section's HTML, starting with
            ``request.heading()``. Escape every value taken from the results (``request.escape``); add
            figures with ``request.figure(...)`` and tables with ``request.table(...)``.
        markdown: ``markdown(request) -> str | None``: the section in the Markdown report (appended after the
            verdicts); ``None``: the section is in the HTML and PDF reports only.
        order: where it goes: the built-in sections have 10 (summary), 20, 30, 40, 50 (results per test),
            70 (limitations) and 80 (reproducibility); the default, 60, puts a plugin's section after the
            results per test.
        doc: one line shown by ``uspec-audit plugins``.
    """

    name: str
    title: str
    html: Callable[[Any], str | None]
    markdown: Callable[[Any], str | None] | None = None
    order: int = 60
    doc: str = ""


BUILTIN_PLUGIN = "builtin"


@dataclass(frozen=True)
class Registered:
    """A component together with the plugin that registered it."""

    family: str
    name: str
    spec: Any
    plugin: str
    package: str
    version: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def builtin(self) -> bool:
        return self.plugin == BUILTIN_PLUGIN

    @property
    def origin(self) -> str:
        """``built in`` or ``plugin 'NAME' (package VERSION)``, for messages."""
        return "built in" if self.builtin else f"plugin '{self.plugin}' ({self.package} {self.version})"
