"""The inference stage: stream every (dataset, variant) once through every member that still needs it.

Finished units land in the prediction cache; what the later stages (metrics,
statistics) need is the map from (ensemble, work-group key) to cache key. An
executor decides where the members run -- ``local`` (this process) or ``ray``
(actors on a Ray cluster, :mod:`uspec_audit.engine.ray_executor`); it changes
nothing in the keys or the cached values. A unit is written to the cache as
soon as its group finishes, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from uspec_audit.components import FeatureStats
from uspec_audit.config.models import Execution
from uspec_audit.engine import warmup
from uspec_audit.engine.cache import PredictionCache
from uspec_audit.engine.executor import (
    LoadedEnsemble,
    compute_feature_stats,
    perturbed_batches,
    run_group,
    unit_key,
)
from uspec_audit.engine.plan import Plan, WorkGroup
from uspec_audit.engine.progress import Progress
from uspec_audit.errors import AuditFileError


@dataclass
class InferenceResult:
    """Where every unit's predictions are, how many were computed or reused, and where they ran."""

    unit_keys: dict[tuple[str, tuple], str] = field(default_factory=dict)
    computed: int = 0
    reused: int = 0
    execution: dict = field(default_factory=lambda: {"executor": "local"})


@dataclass
class PendingGroup:
    """A work group with the ensembles whose units the cache lacks."""

    group: WorkGroup
    ensembles: list[LoadedEnsemble]
    keys: dict[str, str]
    feature_stats: FeatureStats | None
    num_examples: int


@functools.cache
def perturbation_device(device: str) -> str:
    """Where perturbations run: on the GPU through torch when there is one. torch is imported only when
    onnxruntime sees CUDA too (or --device asks for it), so CPU machines do not pay for the import."""
    if device == "cpu" or importlib.util.find_spec("torch") is None:
        return "cpu"
    if device == "auto":
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_execution(settings: Execution, executor: str | None, address: str | None) -> Execution:
    """The audit file's ``[execution]`` table with the command line's ``--executor``/``--address`` on top."""
    update: dict = {}
    if executor is not None:
        update["executor"] = executor
        if executor == "local":
            update["address"] = None  # --executor local overrides a cluster named in the file
    if address is not None:
        update["address"] = address
    resolved = settings.model_copy(update=update)
    if resolved.executor == "local" and resolved.address is not None:
        raise AuditFileError(
            f"--address {resolved.address} names a Ray cluster, but the executor is local; "
            f'add --executor ray (or executor = "ray" in the audit\'s [execution] table).'
        )
    return resolved


def pending_groups(
    plan: Plan,
    readers: dict,
    fingerprints: dict[str, str],
    ensembles: dict,
    cache: PredictionCache,
    registry,
    seed: int,
    batch_size: int,
    result: InferenceResult,
) -> list[PendingGroup]:
    """Every work group that has a unit the cache lacks; records every unit's key in ``result``."""
    pending: list[PendingGroup] = []
    feature_stats: dict[str, FeatureStats] = {}
    for group in plan.groups:
        reader = readers[group.dataset]
        spec = (
            registry.get("perturbation", group.variant.perturbation) if group.variant.perturbation else None
        )
        version = spec.version if spec else ""
        missing, keys = [], {}
        for name in group.ensembles:
            key = unit_key(ensembles[name], fingerprints[group.dataset], group, seed, version)
            result.unit_keys[(name, group.key)] = key
            if cache.has(key):
                result.reused += 1
            else:
                missing.append(ensembles[name])
                keys[name] = key
        if not missing:
            continue
        stats = None
        if spec is not None and spec.needs_feature_stats:
            if group.dataset not in feature_stats:
                feature_stats[group.dataset] = compute_feature_stats(reader, batch_size)
            stats = feature_stats[group.dataset]
        pending.append(PendingGroup(group, missing, keys, stats, reader.num_examples))
    return pending


def run_inference(
    plan: Plan,
    readers: dict,
    fingerprints: dict[str, str],
    ensembles: dict,
    cache: PredictionCache,
    registry,
    seed: int,
    batch_size: int,
    device: str,
    progress: Progress,
    execution: Execution | None = None,
    base_dir: Path | None = None,
    allow_code: list[str] | None = None,
) -> InferenceResult:
    """Compute every unit of ``plan`` that the cache lacks, with the executor ``execution`` names
    (``allow_code``: the ``--allow-code`` modules, which Ray workers honour as the driver does)."""
    execution = execution or Execution()
    result = InferenceResult()
    pending = pending_groups(
        plan, readers, fingerprints, ensembles, cache, registry, seed, batch_size, result
    )
    if execution.executor == "ray":
        result.execution = {"executor": "ray", "address": execution.address}
        if pending:  # a fully cached re-run needs no cluster
            from uspec_audit.engine.ray_executor import RayExecutor

            warmup.start()
            with RayExecutor(
                execution, registry, seed, batch_size, device, base_dir or Path.cwd(), list(allow_code or [])
            ) as executor:
                for item, units in executor.run(pending, plan, ensembles, readers, fingerprints, progress):
                    for name, unit in units.items():
                        cache.put(item.keys[name], unit)
                        result.computed += 1
                result.execution = executor.describe()
        return result
    if pending:
        warmup.start()
    for item in pending:
        group, reader = item.group, readers[item.group.dataset]
        where = perturbation_device(device) if group.variant.perturbation else "cpu"
        make_batches = perturbed_batches(reader, group, registry, seed, batch_size, where, item.feature_stats)
        with progress.step(
            f"Inference {group.dataset} [{group.variant.label}]", reader.num_examples
        ) as advance:
            units = run_group(group, item.ensembles, reader, batch_size, make_batches, advance)
        for name, unit in units.items():
            cache.put(item.keys[name], unit)
            result.computed += 1
    return result
