"""pluggy hook specifications of uspec-audit.

Every hook takes a ``register`` callback. A plugin implements the hooks for the
component families it contributes and calls ``register(spec)`` once per
component. Built-in components use exactly these hooks (see
:mod:`uspec_audit.builtin`), so a third-party plugin can do anything a
built-in can. Names must be unique within a family; a clash is an error that
names both plugins.

A third-party plugin package declares an entry point in the group
``uspec_audit``::

    [project.entry-points.uspec_audit]
    my_plugin = "my_package.plugin"

and implements hooks with :data:`uspec_audit.hookimpl`.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT = "uspec_audit"
hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def uspec_audit_register_loaders(register: Callable) -> None:
    """Register model loaders: ``register(LoaderSpec(...))``.

    A loader turns a member file (and the ensemble's loader options) into an
    object with ``predict(x) -> np.ndarray``; see
    :class:`uspec_audit.components.LoaderSpec`.
    """


@hookspec
def uspec_audit_register_sources(register: Callable) -> None:
    """Register dataset sources: ``register(DatasetSourceSpec(...))``.

    A source reads a dataset declared under ``[datasets.NAME]`` and yields
    :class:`uspec_audit.Batch` objects with stable example ids.
    """


@hookspec
def uspec_audit_register_perturbations(register: Callable) -> None:
    """Register perturbations: ``register(PerturbationSpec(...))``.

    A perturbation maps raw inputs of one modality to perturbed inputs of the
    same structure, seeded per example through ``PerturbContext.seeds``. Its
    pydantic ``params`` model is validated from the audit file and joins the
    audit JSON Schema.
    """


@hookspec
def uspec_audit_register_metrics(register: Callable) -> None:
    """Register per-member metrics: ``register(MetricSpec(...))``."""


@hookspec
def uspec_audit_register_test_kinds(register: Callable) -> None:
    """Register stress-test kinds: ``register(TestKindSpec(...))``.

    A kind names how a test turns a dataset into variants and strata
    (``iid``, ``stratified``, ``shifted``, ``perturbed``, ``contrastive``).
    """


@hookspec
def uspec_audit_register_tokenizers(register: Callable) -> None:
    """Register text preprocessors: ``register(TokenizerSpec(...))``.

    A tokenizer turns raw strings (after text perturbations) into a model's
    named integer inputs, e.g. ``input_ids`` and ``attention_mask``. The
    built-in ``tokenizers`` entry loads a local ``tokenizer.json`` with the
    HuggingFace ``tokenizers`` library (nothing is downloaded).
    """


@hookspec
def uspec_audit_register_suites(register: Callable) -> None:
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
