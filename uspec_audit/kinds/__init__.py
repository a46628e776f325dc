"""The built-in test kinds, one module each, and the building blocks a plugin kind reuses.

Each module defines ``KIND``, a :class:`uspec_audit.TestKindSpec` registered by the built-in plugin through
``uspec_audit_register_test_kinds`` -- the hook a third-party kind uses -- so the engine runs every kind
through one path. Building blocks for a plugin kind's ``params`` and callables:

- :class:`PerturbationParams` (``suite``, ``severities``, ``perturbations``), with
  :func:`perturbation_problems` and :func:`perturbation_variants`;
- :class:`StrataParams` (``by``, ``min_stratum_size``, ``max_strata``) and :func:`attribute_problems`.

The types a kind receives and returns are in :mod:`uspec_audit.kind_api` (and exported from
:mod:`uspec_audit`). Importing this package imports pydantic and the audit-file models, nothing heavier.
"""

from __future__ import annotations

from uspec_audit.kinds.attributes import StrataParams, attribute_problems
from uspec_audit.kinds.perturbations import (
    PerturbationParams,
    perturbation_problems,
    perturbation_refs,
    perturbation_variants,
    read_suite,
)

__all__ = [
    "PerturbationParams",
    "StrataParams",
    "attribute_problems",
    "builtin_kinds",
    "perturbation_problems",
    "perturbation_refs",
    "perturbation_variants",
    "read_suite",
]


def builtin_kinds() -> tuple:
    """The five built-in kinds' specs, in the order ``uspec-audit plugins`` lists them."""
    from uspec_audit.kinds import contrastive, iid, perturbed, shifted, stratified

    return (iid.KIND, stratified.KIND, shifted.KIND, perturbed.KIND, contrastive.KIND)
