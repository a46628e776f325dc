"""uspec-audit: audit machine-learning models for underspecification.

The public API for plugin authors (see ``docs/plugins.md``):

- :data:`hookimpl`, the marker of hook implementations, and :data:`Register`, the type of the
  ``register`` callback every hook receives;
- the component specifications: :class:`LoaderSpec`, :class:`DatasetSourceSpec`,
  :class:`PerturbationSpec`, :class:`MetricSpec`, :class:`TestKindSpec`, :class:`TokenizerSpec`,
  :class:`SuiteSpec`, :class:`ReportSectionSpec`, with :class:`PerturbContext` and :class:`FeatureStats`;
- what a test kind receives and returns (:mod:`uspec_audit.kind_api`): :class:`CheckRequest`,
  :class:`Problem`, :class:`VariantRequest`, :class:`Variant`, :class:`Strata`, :class:`TablesRequest`,
  :class:`KindTest` (building blocks for a kind's parameters are in :mod:`uspec_audit.kinds`), and what a
  report section receives, :class:`SectionRequest`;
- the protocols a plugin's objects follow and the requests its factories receive:
  :class:`Member`, :class:`DatasetReader` (and :class:`BaseDatasetReader`, which supplies the
  bookkeeping), :class:`Tokenizer`, :class:`LoadRequest`, :class:`SourceRequest`,
  :class:`TokenizerRequest`, and :class:`Batch`;
- the errors a user sees: :class:`UspecError`, :class:`AuditFileError`, :class:`RunError`,
  :class:`PluginError`; and :func:`file_sha256`, the streamed, cached file hash fingerprints use.

Names are imported on first use, so ``import uspec_audit`` stays cheap for the
CLI and for every plugin that imports it.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# An audit tool for regulated settings sends nothing anywhere and leaves no
# device ids behind: onnxruntime's telemetry is off unless the user opts in.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import pluggy  # noqa: E402  (small; every plugin module needs the marker)

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("uspec_audit")

_EXPORTS = {
    "Batch": "uspec_audit.batch",
    "BaseDatasetReader": "uspec_audit.data.reader",
    "DatasetSourceSpec": "uspec_audit.components",
    "FeatureStats": "uspec_audit.components",
    "LoaderSpec": "uspec_audit.components",
    "MetricSpec": "uspec_audit.components",
    "PerturbationSpec": "uspec_audit.components",
    "PerturbContext": "uspec_audit.components",
    "SuiteSpec": "uspec_audit.components",
    "TestKindSpec": "uspec_audit.components",
    "TokenizerSpec": "uspec_audit.components",
    "ReportSectionSpec": "uspec_audit.components",
    "CheckRequest": "uspec_audit.kind_api",
    "KindTest": "uspec_audit.kind_api",
    "Problem": "uspec_audit.kind_api",
    "Strata": "uspec_audit.kind_api",
    "TablesRequest": "uspec_audit.kind_api",
    "Variant": "uspec_audit.kind_api",
    "VariantRequest": "uspec_audit.kind_api",
    "SectionRequest": "uspec_audit.report.section_api",
    "DatasetReader": "uspec_audit.protocols",
    "LoadRequest": "uspec_audit.protocols",
    "Member": "uspec_audit.protocols",
    "Register": "uspec_audit.protocols",
    "SourceRequest": "uspec_audit.protocols",
    "Tokenizer": "uspec_audit.protocols",
    "TokenizerRequest": "uspec_audit.protocols",
    "file_sha256": "uspec_audit.fingerprint",
    "AuditFileError": "uspec_audit.errors",
    "PluginError": "uspec_audit.errors",
    "RunError": "uspec_audit.errors",
    "UspecError": "uspec_audit.errors",
}

if TYPE_CHECKING:  # pragma: no cover - what type checkers and IDEs see
    from uspec_audit.batch import Batch
    from uspec_audit.components import (
        DatasetSourceSpec,
        FeatureStats,
        LoaderSpec,
        MetricSpec,
        PerturbationSpec,
        PerturbContext,
        ReportSectionSpec,
        SuiteSpec,
        TestKindSpec,
        TokenizerSpec,
    )
    from uspec_audit.data.reader import BaseDatasetReader
    from uspec_audit.errors import AuditFileError, PluginError, RunError, UspecError
    from uspec_audit.fingerprint import file_sha256
    from uspec_audit.kind_api import (
        CheckRequest,
        KindTest,
        Problem,
        Strata,
        TablesRequest,
        Variant,
        VariantRequest,
    )
    from uspec_audit.protocols import (
        DatasetReader,
        LoadRequest,
        Member,
        Register,
        SourceRequest,
        Tokenizer,
        TokenizerRequest,
    )
    from uspec_audit.report.section_api import SectionRequest


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'uspec_audit' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain global
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "AuditFileError",
    "BaseDatasetReader",
    "Batch",
    "CheckRequest",
    "KindTest",
    "Problem",
    "ReportSectionSpec",
    "SectionRequest",
    "Strata",
    "TablesRequest",
    "Variant",
    "VariantRequest",
    "DatasetReader",
    "DatasetSourceSpec",
    "FeatureStats",
    "LoadRequest",
    "LoaderSpec",
    "Member",
    "MetricSpec",
    "PerturbContext",
    "PerturbationSpec",
    "PluginError",
    "Register",
    "RunError",
    "SourceRequest",
    "SuiteSpec",
    "TestKindSpec",
    "Tokenizer",
    "TokenizerRequest",
    "TokenizerSpec",
    "UspecError",
    "__version__",
    "file_sha256",
    "hookimpl",
]
