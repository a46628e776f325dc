"""What runs on the Ray cluster: member actors that hold sessions, and stream producers.

Imported by Ray's worker processes (and by the driver, which submits them);
``ray`` itself is imported only by :mod:`uspec_audit.engine.ray_executor`.

- :class:`MemberHost` (an actor, one per CPU/GPU slot) holds the sessions of
  its share of the members. Model files travel as bytes through the object
  store and are checked against the driver's sha256 before they are loaded, so
  workers need no shared filesystem for models. A restarted actor finds the
  bytes again through a named :class:`ModelShelf` (constructor arguments stay
  plain values, which Ray can always replay).
- :func:`produce_stream` (a streaming task, one per work group) reads, decodes,
  perturbs and prepares each batch of one (dataset, variant) once and yields it
  to the object store, where every actor that needs it reads it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from uspec_audit.errors import RunError, UspecError


@dataclass(frozen=True)
class MemberJob:
    """One member as an actor loads it: the loader and what its request holds (as on the driver), which bytes
    (by hash; the object-store reference is on the shelf), which fingerprint the driver's member has."""

    ensemble: str
    index: int
    name: str
    loader: str
    options: dict  # the ensemble's options as written; validated by the loader's own model, as on the driver
    output_index: int
    input_name: str | None
    task: str
    suffix: str
    sha256: str
    fingerprint: str
    source: str  # the driver's path, for messages


@dataclass(frozen=True)
class StreamRequest:
    """Everything a producer needs to rebuild one work group's batches on any worker."""

    group: Any  # WorkGroup
    dataset: Any  # config.models.Dataset
    base_dir: Path
    fingerprint: str
    verify: bool  # recompute the dataset fingerprint on the worker (data = "shared")
    seed: int
    batch_size: int
    feature_stats: Any
    preparations: dict = field(default_factory=dict)  # preparation key -> LoadedEnsemble without members
    allow_code: tuple[str, ...] = ()  # the --allow-code modules (the driver's opt-in holds on workers too)


def materialize(blob: bytes, sha256: str, suffix: str, source: str) -> Path:
    """Write a model's bytes to a node-local, content-addressed file (once per node) after checking the hash."""
    digest = hashlib.sha256(blob).hexdigest()
    if digest != sha256:
        raise RunError(
            f"{source}: the model bytes that reached the worker have sha256 {digest[:12]}..., the driver "
            f"read {sha256[:12]}...; the transfer is corrupt."
        )
    folder = Path(tempfile.gettempdir()) / "uspec-audit-models"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sha256}{suffix}"
    if not path.exists() or path.stat().st_size != len(blob):
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(blob)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return path


def configure_worker(threads: int, env: dict[str, str]) -> None:
    """A worker process is ours alone: onnxruntime pools sized to the CPUs the actor reserved."""
    os.environ.update(env)
    os.environ["USPEC_AUDIT_THREADS"] = str(threads)
    from uspec_audit.models.onnx import configure_threads

    configure_threads()


class ModelShelf:
    """A small named actor that keeps the object-store references of the run's model files (by sha256)."""

    def __init__(self) -> None:
        self.refs: dict[str, Any] = {}

    def keep(self, sha256: str, wrapped: list) -> None:
        self.refs[sha256] = wrapped[0]  # wrapped in a list so Ray hands over the reference, not the bytes

    def lookup(self, shas: list[str]) -> list:
        return [[self.refs[sha]] for sha in shas]


class MemberHost:
    """A Ray actor holding the sessions of some members; runs them on batches from the object store."""

    def __init__(
        self,
        jobs: list[MemberJob],
        shelf: str,
        namespace: str,
        device: str,
        threads: int,
        env: dict[str, str],
        allow_code: list[str],
        base_dir: str,
    ):
        import ray

        configure_worker(threads, env)
        from uspec_audit.config.trust import allowed_code
        from uspec_audit.engine.loading import load_member
        from uspec_audit.plugins import get_registry

        registry = get_registry()
        self.members: dict[tuple[str, int], Any] = {}
        self.started = time.time()
        wrapped: list[Any] = ray.get(
            ray.get_actor(shelf, namespace=namespace).lookup.remote([job.sha256 for job in jobs])
        )
        for job, (blob,) in zip(jobs, wrapped, strict=True):
            path = materialize(ray.get(blob), job.sha256, job.suffix, job.source)
            # The same loader record, request and --allow-code opt-in as the driver's load (engine/loading.py):
            # a factory runs on a worker only when the person running the command enabled its module.
            try:
                with allowed_code(allow_code):
                    member = load_member(
                        registry.record("loader", job.loader),
                        path,
                        name=job.name,
                        ensemble=job.ensemble,
                        options=job.options,
                        device=device,
                        output_index=job.output_index,
                        input_name=job.input_name,
                        task=job.task,
                        base_dir=Path(base_dir),
                    )
            except UspecError as error:  # messages name the user's file, not the worker's copy
                raise type(error)(str(error).replace(str(path), job.source)) from error
            if member.fingerprint != job.fingerprint:
                raise RunError(
                    f"{job.source}: the model loaded on the worker has fingerprint "
                    f"{member.fingerprint[:12]}..., the driver's has {job.fingerprint[:12]}..."
                )
            self.members[(job.ensemble, job.index)] = member
        if "torch" in sys.modules:  # torch members: their intra-op pool too
            sys.modules["torch"].set_num_threads(threads)
        self.plugins: Any = registry.plugins

    def describe(self) -> dict:
        """Who this actor is and what it holds (the driver checks versions and plugins against its own)."""
        import platform

        import ray

        from uspec_audit import __version__

        return {
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
            "host": platform.node(),
            "version": __version__,
            "plugins": self.plugins,
            "gpus": [str(g) for g in ray.get_gpu_ids()],
            "members": {
                f"{e}/{i}": {"name": m.name, "providers": list(getattr(m, "providers", []))}
                for (e, i), m in self.members.items()
            },
        }

    def predict(
        self, prepared: dict, ensembles: list[tuple[str, str]], group, check: bool, pad_to: int
    ) -> dict:
        """Every held member of ``ensembles`` (name, preparation key) on one prepared batch."""
        from uspec_audit.engine.executor import run_members

        outputs: dict[tuple[str, int], np.ndarray] = {}
        seconds: dict[str, float] = {}
        for name, key in ensembles:
            held = [(i, m) for (e, i), m in self.members.items() if e == name]
            if not held:
                continue
            ensemble = _Named(name)
            results, spent = run_members(ensemble, held, prepared[key], group, check, pad_to)
            for (index, _), output in zip(held, results, strict=True):
                outputs[(name, index)] = output
            seconds[name] = spent
        return {"outputs": outputs, "seconds": seconds, "pid": os.getpid()}


@dataclass(frozen=True)
class _Named:
    """The part of an ensemble :func:`run_members` reads on a worker (its name, for messages)."""

    name: str


def produce_stream(request: StreamRequest):
    """Yield, for each batch of one work group, its metadata (ids, targets) and then its prepared inputs.

    Runs as a Ray streaming task: the metadata goes to the driver, the inputs stay in the object store for the
    actors. Perturbations are seeded per example, so a retried producer yields the same batches.
    """
    from uspec_audit.config.trust import allowed_code
    from uspec_audit.data.opening import open_dataset
    from uspec_audit.engine.executor import perturbed_batches, prepare_batch
    from uspec_audit.engine.notices import collecting
    from uspec_audit.plugins import get_registry

    registry = get_registry()
    config = request.dataset
    group = request.group
    try:
        with allowed_code(request.allow_code):
            reader = open_dataset(
                registry.record("source", config.source), config, request.base_dir, name=group.dataset
            )
    except UspecError as error:
        raise type(error)(f"{error} (on a Ray worker)") from error
    if request.verify and reader.fingerprint() != request.fingerprint:
        raise RunError(
            f"dataset '{group.dataset}': the file a Ray worker reads at {reader.path} differs from the "
            f'driver\'s (fingerprints differ); with data = "shared" every node must see the same files.'
        )
    ensembles = list(request.preparations.values())
    make_batches = perturbed_batches(
        reader, group, registry, request.seed, request.batch_size, "cpu", request.feature_stats
    )
    with collecting() as notices:  # the first batch's checks (engine/perturb_checks.py) go back to the driver
        for batch in make_batches():
            found, notices[:] = list(notices), []
            yield {
                "ids": np.asarray(batch.ids),
                "targets": np.asarray(batch.targets),
                "n": len(batch),
                "notices": found,
            }
            yield prepare_batch(batch, ensembles, group.dataset)
