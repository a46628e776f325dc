"""uspec-audit: audit machine-learning models for underspecification.

The public API for plugin authors: :data:`hookimpl`, the component
specifications and :class:`Batch`.
"""

from __future__ import annotations

import os

# An audit tool for regulated settings sends nothing anywhere and leaves no
# device ids behind: onnxruntime's telemetry is off unless the user opts in.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import pluggy  # noqa: E402

from uspec_audit.batch import Batch  # noqa: E402
from uspec_audit.components import (  # noqa: E402
    DatasetSourceSpec,
    FeatureStats,
    LoaderSpec,
    MetricSpec,
    PerturbationSpec,
    PerturbContext,
    SuiteSpec,
    TestKindSpec,
    TokenizerSpec,
)

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("uspec_audit")

__all__ = [
    "Batch",
    "DatasetSourceSpec",
    "FeatureStats",
    "LoaderSpec",
    "MetricSpec",
    "PerturbContext",
    "PerturbationSpec",
    "SuiteSpec",
    "TestKindSpec",
    "TokenizerSpec",
    "__version__",
    "hookimpl",
]
