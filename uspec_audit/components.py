"""Specifications of the components that plugins register.

Every built-in component is registered through the same hooks as a
third-party one (see :mod:`uspec_audit.hookspecs`); these dataclasses are what
the ``register`` callbacks accept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel

MODALITIES = ("image", "tabular", "sequence", "text")
TASKS = ("multiclass", "binary", "regression")


@dataclass(frozen=True)
class FeatureStats:
    """Per-feature statistics of a dataset (computed once by the engine, streaming)."""

    mean: np.ndarray
    sd: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray


@dataclass(frozen=True)
class PerturbContext:
    """Everything a perturbation may need beside the inputs.

    ``seeds`` holds one ``uint64`` per example, derived from (audit seed,
    example id, perturbation name, severity): a perturbation builds its
    per-example generators with ``np.random.default_rng(seed)`` so that a
    re-run, a resumed run or a sharded run gives identical outputs.
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
    """A registered perturbation applied to raw inputs.

    ``apply(inputs, ctx)`` returns inputs of the same shape and dtype (for
    ``uint8`` images) or of the same structure (text lists, tabular arrays).
    ``params`` is a pydantic model (``extra="forbid"``) validated from the
    audit file; its JSON Schema becomes part of the audit schema.
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

    ``fn(target, prediction, task)``: for ``multiclass``/``binary`` tasks
    ``prediction`` is a ``float64`` array of class probabilities ``(n, K)``
    (``K = 2`` for binary) and ``target`` integer labels ``(n,)``; for
    ``regression`` both are ``float64`` ``(n,)``. Returns a float (NaN when
    the metric is undefined on this data, e.g. AUC with one class present).
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray, str], float]
    tasks: tuple[str, ...]
    higher_is_better: bool
    doc: str
    source: str = ""


class Member(Protocol):
    """A loaded ensemble member, ready to predict."""

    name: str
    fingerprint: str
    providers: list[str]

    def predict(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class LoaderSpec:
    """A model loader: ``load(path, options, device) -> Member``."""

    name: str
    load: Callable[[Path, dict[str, Any], str], Member]
    suffixes: tuple[str, ...]
    doc: str


@dataclass(frozen=True)
class DatasetSourceSpec:
    """A dataset source: ``open(config, base_dir) -> DatasetReader``."""

    name: str
    open: Callable[[Any, Path], Any]
    doc: str


@dataclass(frozen=True)
class TestKindSpec:
    """A stress-test kind (iid, stratified, shifted, perturbed, contrastive, ...)."""

    name: str
    doc: str
    params: type[BaseModel] | None = None


@dataclass(frozen=True)
class TokenizerSpec:
    """A text preprocessor: ``make(options, base_dir) -> tokenizer`` with
    ``encode_batch(texts: list[str]) -> {model input name: int64 array (B, L)}``.

    An ensemble names it in ``tokenizer = { name = "...", ... }``; paths in the
    options resolve against ``base_dir`` (the audit file's folder).
    """

    name: str
    make: Callable[[dict[str, Any], Path], Any]
    doc: str


@dataclass(frozen=True)
class SuiteSpec:
    """A TOML file defining a reusable set of perturbations and severities."""

    name: str
    path: Path
    doc: str = ""


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
