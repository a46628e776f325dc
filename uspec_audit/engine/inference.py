"""The inference stage: stream every (dataset, variant) once through every member that still needs it.

Finished units land in the prediction cache; what the later stages (metrics,
statistics) need is the map from (ensemble, work-group key) to cache key. An
executor (the local one here) decides where the members run; it changes
nothing in the keys or the cached values.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass, field

from uspec_audit.engine.cache import PredictionCache
from uspec_audit.engine.executor import compute_feature_stats, perturbed_batches, run_group, unit_key
from uspec_audit.engine.plan import Plan
from uspec_audit.engine.progress import Progress


@dataclass
class InferenceResult:
    """Where every unit's predictions are, and how many were computed or reused."""

    unit_keys: dict[tuple[str, tuple], str] = field(default_factory=dict)
    computed: int = 0
    reused: int = 0


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


def run_inference(plan: Plan, readers: dict, fingerprints: dict[str, str], ensembles: dict, cache: PredictionCache,
                  registry, seed: int, batch_size: int, device: str, progress: Progress) -> InferenceResult:
    """Compute every unit of ``plan`` that the cache lacks (local executor)."""
    result = InferenceResult()
    feature_stats: dict[str, object] = {}
    for group in plan.groups:
        reader = readers[group.dataset]
        spec = registry.get("perturbation", group.variant.perturbation) if group.variant.perturbation else None
        version = spec.version if spec else ""
        missing = []
        for name in group.ensembles:
            key = unit_key(ensembles[name], fingerprints[group.dataset], group, seed, version)
            result.unit_keys[(name, group.key)] = key
            if not cache.has(key):
                missing.append(ensembles[name])
        if not missing:
            result.reused += len(group.ensembles)
            continue
        stats = None
        if spec is not None and spec.needs_feature_stats:
            if group.dataset not in feature_stats:
                feature_stats[group.dataset] = compute_feature_stats(reader, batch_size)
            stats = feature_stats[group.dataset]
        where = perturbation_device(device) if spec is not None else "cpu"
        make_batches = perturbed_batches(reader, group, registry, seed, batch_size, where, stats)
        with progress.step(f"Inference {group.dataset} [{group.variant.label}]", reader.num_examples) as advance:
            results = run_group(group, missing, reader, batch_size, make_batches, advance)
        for ensemble in missing:
            cache.put(result.unit_keys[(ensemble.name, group.key)], results[ensemble.name])
            result.computed += 1
    return result
