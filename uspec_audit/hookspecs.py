"""pluggy hook specifications of uspec-audit.

Every hook takes one argument, ``register``, a callback typed
:data:`uspec_audit.Register` of the family's spec: a plugin implements the
hooks for the component families it contributes and calls ``register(spec)``
once per component. Built-in components use exactly these hooks (see
:mod:`uspec_audit.builtin`), so a third-party plugin can do anything a
built-in can.

A third-party plugin package declares an entry point in the group
``uspec_audit``::

    [project.entry-points.uspec_audit]
    my_plugin = "my_package.plugin"

and implements hooks with :data:`uspec_audit.hookimpl`. What happens when
something goes wrong, per plugin (``uspec-audit plugins`` lists it and exits 3;
every other plugin keeps working):

- the module fails to import, or implements a hook name not defined here (a
  did-you-mean names the closest hook): the plugin is left out;
- a hook raises: the components that hook registered are left out;
- a spec is of the wrong type or invalid, or its name is taken: that component
  is left out (a name clash between two plugins leaves out both; a clash with a
  built-in leaves out the plugin's component).

``USPEC_AUDIT_DISABLE_PLUGINS=name1,name2`` switches plugins off by entry-point name.
The guide for plugin authors is ``docs/plugins.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - types only
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

PROJECT = "uspec_audit"
hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def uspec_audit_register_loaders(register: Register[LoaderSpec]) -> None:
    """Register model loaders: ``register(LoaderSpec(...))``.

    A loader turns one member file into a :class:`uspec_audit.Member`:
    ``LoaderSpec.load(request: LoadRequest) -> Member``. Its ``options`` model
    validates the ensemble's ``options = {...}``; ``suffixes`` names the files it reads.
    """


@hookspec
def uspec_audit_register_sources(register: Register[DatasetSourceSpec]) -> None:
    """Register dataset sources: ``register(DatasetSourceSpec(...))``.

    A source opens the data of a ``[datasets.NAME]`` table with ``source = "NAME"``:
    ``DatasetSourceSpec.open(request: SourceRequest) -> DatasetReader``, a reader that
    streams :class:`uspec_audit.Batch` objects with stable example ids (subclass
    :class:`uspec_audit.BaseDatasetReader`). Its ``options`` model validates the table's
    ``options = {...}``.
    """


@hookspec
def uspec_audit_register_perturbations(register: Register[PerturbationSpec]) -> None:
    """Register perturbations: ``register(PerturbationSpec(...))``.

    A perturbation maps raw inputs of one modality to perturbed inputs of the
    same shape and dtype, seeded per example through ``PerturbContext.seeds``. Its
    pydantic ``params`` model is validated from the audit file and joins the
    audit JSON Schema.
    """


@hookspec
def uspec_audit_register_metrics(register: Register[MetricSpec]) -> None:
    """Register per-member metrics: ``register(MetricSpec(...))``.

    ``MetricSpec.fn(target, prediction, task) -> float`` on one member's outputs.
    """


@hookspec
def uspec_audit_register_test_kinds(register: Register[TestKindSpec]) -> None:
    """Register stress-test kinds: ``register(TestKindSpec(...))``.

    A kind validates the keys of its tests (``params``), checks them against the audit (``check``), turns
    a dataset into variants and strata (``variants``, ``strata``) and may add result tables of its own
    (``tables``). The built-in ``iid``, ``stratified``, ``shifted``, ``perturbed`` and ``contrastive``
    (:mod:`uspec_audit.kinds`) are registered through this hook.
    """


@hookspec
def uspec_audit_register_report_sections(register: Register[ReportSectionSpec]) -> None:
    """Register report sections: ``register(ReportSectionSpec(...))``.

    ``ReportSectionSpec.html(request: SectionRequest) -> str | None`` renders a section of the HTML and PDF
    reports from the results folder (``request.results.table(name)``), with figures
    (``request.figure(...)``); ``markdown`` optionally adds it to the Markdown report. The report's own
    sections are registered through this hook.
    """


@hookspec
def uspec_audit_register_tokenizers(register: Register[TokenizerSpec]) -> None:
    """Register text preprocessors: ``register(TokenizerSpec(...))``.

    ``TokenizerSpec.make(request: TokenizerRequest) -> Tokenizer``: turns raw strings
    (after text perturbations) into a model's named integer inputs, e.g.
    ``input_ids`` and ``attention_mask``. The built-in ``tokenizers`` entry loads a
    local ``tokenizer.json`` with the HuggingFace ``tokenizers`` library (nothing
    is downloaded).
    """


@hookspec
def uspec_audit_register_suites(register: Register[SuiteSpec]) -> None:
    """Register TOML test suites: ``register(SuiteSpec(name, path))``.

    A suite file lists perturbations and severities under a name that audits
    use as ``suite = "NAME"`` (e.g. ``imagenet-c``)::

        [suite]
        name = "imagenet-c"
        description = "..."

        [[perturbations]]
        name = "gaussian_noise"
        severities = [1, 2, 3, 4, 5]
    """
