"""The infer stage of a run: open the datasets, load the members, and stream every (dataset, variant) once
through every member that still needs it. Everything after it reads the predictions from the cache.

The only stage that runs models; the rest of a run (:mod:`uspec_audit.pipeline`) never imports a model
runtime.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from uspec_audit.config.checked import CheckedAudit
from uspec_audit.engine.cache import PredictionCache
from uspec_audit.engine.executor import LoadedEnsemble
from uspec_audit.engine.inference import resolve_execution, run_inference
from uspec_audit.engine.loading import load_ensembles, open_readers
from uspec_audit.engine.notices import collecting
from uspec_audit.engine.plan import Plan
from uspec_audit.engine.progress import Progress


@dataclass
class Inferred:
    """What the infer stage produced: the loaded ensembles and opened readers (for the manifest), each
    dataset's metadata and fingerprint, the cache key of every unit, timings and the warnings so far."""

    cache: PredictionCache
    ensembles: dict[str, LoadedEnsemble]
    readers: dict
    metadata: dict[str, pd.DataFrame]
    fingerprints: dict[str, str]
    unit_keys: dict
    timings: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    execution: dict = field(default_factory=dict)  # where inference ran (the manifest's "execution")


def infer(
    audit: CheckedAudit,
    registry,
    plan: Plan,
    cache_dir: Path,
    *,
    fresh: bool,
    device: str,
    progress: Progress,
    warnings: list[str],
    check_metadata=None,
    executor: str | None = None,
    address: str | None = None,
    allow_code: list[str] | None = None,
) -> Inferred:
    """Run the infer stage. ``warnings`` are the run's warnings so far (extended, not copied);
    ``check_metadata(metadata) -> warnings`` vets the datasets' metadata before any model loads (the strata
    counts), so a bad test fails in seconds. ``executor``/``address`` (the command line) override the audit's
    ``[execution]``; ``allow_code`` are the ``--allow-code`` modules (Ray workers honour them as the driver)."""
    loaded = audit.loaded
    model = audit.model
    execution = resolve_execution(model.execution, executor, address)
    cache = PredictionCache(cache_dir, enabled=not fresh)
    cache.remove_partial_writes()

    readers = open_readers(loaded, plan, registry)
    metadata = {name: reader.metadata() for name, reader in readers.items()}
    if check_metadata is not None:
        warnings += check_metadata(metadata)
    fingerprints = {name: reader.fingerprint() for name, reader in readers.items()}
    load_started = time.perf_counter()
    ensembles = load_ensembles(loaded, plan, registry, device, progress)
    load_seconds = time.perf_counter() - load_started

    # What the components do wrong on the way (a perturbation's first batch) comes back as notices.
    inference_started = time.perf_counter()
    with collecting() as component_notices:
        result = run_inference(
            plan,
            readers,
            fingerprints,
            ensembles,
            cache,
            registry,
            model.audit.seed,
            model.audit.batch_size,
            device,
            progress,
            execution,
            loaded.base_dir,
            allow_code,
        )
    warnings += [w for w in component_notices if w not in warnings]
    timings = {
        "load_s": load_seconds,
        "inference_s": time.perf_counter() - inference_started,
        "units_computed": result.computed,
        "units_reused": result.reused,
    }
    return Inferred(
        cache,
        ensembles,
        readers,
        metadata,
        fingerprints,
        result.unit_keys,
        timings,
        warnings,
        result.execution,
    )
