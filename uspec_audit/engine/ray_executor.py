"""The Ray executor: the same work units as the local executor, on the actors of a Ray cluster.

Distribution (the README's design section has the cost model):

- members are split round-robin over ``A`` actors (one per GPU, else one per
  CPU); each actor holds its members' sessions for the whole run;
- each pending work group (a dataset under one variant) is streamed by one
  producer task that reads, decodes, perturbs and prepares every batch once and
  yields it to the object store; every actor that holds a member of an ensemble
  consuming the group reads that one copy (zero-copy on the same node);
- outputs stream back to the driver in batch order, which assembles each unit
  with the local executor's code and writes it to the same content-keyed cache
  as soon as its group completes.

Faults: actors restart after a crash and their pending batches are retried
(``execution.max_retries``); producers are retried and reproduce the same
batches (per-example seeds). Every wait is bounded.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from uspec_audit import __version__
from uspec_audit.config.models import Execution
from uspec_audit.engine.executor import LoadedEnsemble, finish_group, preparation_key
from uspec_audit.engine.loading import NamedMember
from uspec_audit.engine.notices import notice
from uspec_audit.engine.ray_cluster import connect, worker_env
from uspec_audit.engine.ray_workers import MemberHost, MemberJob, ModelShelf, StreamRequest, produce_stream
from uspec_audit.errors import RunError, UspecError

#: Batches of one stream in flight at once (bounds the object store and the driver's memory).
DEPTH = 4


class _Stopped(Exception):
    """Another stream failed or the run was interrupted: stop quietly."""


class RanOnCluster(NamedMember):
    """A member loaded on the driver whose predictions an actor computed: the manifest records the actor's
    providers (a GPU on the cluster), not the driver's. Nothing is written to the loader's object."""

    def __init__(self, named: NamedMember, providers: list[str]):
        super().__init__(named.name, named.member, named.blame, named.ensemble)
        self._providers = list(providers)

    @property
    def providers(self) -> list[str]:
        return list(self._providers)


class RayExecutor:
    """Run pending work groups on a Ray cluster (a context manager: connects, and cleans up what it made)."""

    def __init__(
        self,
        settings: Execution,
        registry,
        seed: int,
        batch_size: int,
        device: str,
        base_dir: Path,
        allow_code: list[str] | None = None,
    ):
        self.settings, self.registry, self.allow_code = settings, registry, list(allow_code or [])
        self.seed, self.batch_size, self.device, self.base_dir = seed, batch_size, device, Path(base_dir)
        self.ray: Any = None  # the ray module, once connected
        self.owns_connection = False
        self.actors: list = []
        self.shelf: Any = None  # the model shelf actor
        self.shelf_name = f"uspec-audit-models-{uuid.uuid4().hex}"
        self.holdings: list[set[str]] = []
        self.actor_pids: list[set[int]] = []
        self.info: dict = {"executor": "ray", "address": settings.address}
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def __enter__(self) -> RayExecutor:
        already = False
        try:
            import ray

            already = ray.is_initialized()
        except ImportError:
            pass
        self._started = time.perf_counter()
        self.ray, _ = connect(self.settings)
        self.owns_connection = not already
        self.info["ray_version"] = self.ray.__version__
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for actor in [*self.actors, self.shelf]:
            if actor is None:
                continue
            try:
                self.ray.kill(actor)
            except Exception:  # already dead: nothing to clean up
                pass
        if self.owns_connection:
            self.ray.shutdown()

    # ------------------------------------------------------------------ placement
    def _cluster(self) -> tuple[float, float]:
        resources = self.ray.cluster_resources()
        return float(resources.get("CPU", 0.0)), float(resources.get("GPU", 0.0))

    def _placement(self, n_members: int) -> tuple[int, float, float]:
        """(actors, CPUs and GPUs per actor); waits up to resource_timeout_s for a joined cluster to grow."""
        settings = self.settings
        deadline = time.monotonic() + (settings.resource_timeout_s if settings.address else 0.0)
        while True:
            cpus, gpus = self._cluster()
            num_gpus = settings.num_gpus if settings.num_gpus is not None else (1.0 if gpus >= 1 else 0.0)
            if settings.actors is not None:
                actors = settings.actors
            elif num_gpus > 0:
                actors = int(gpus // num_gpus)
            else:
                actors = int(cpus // settings.num_cpus)
            actors = max(1, min(actors, n_members))
            need_cpus, need_gpus = actors * settings.num_cpus, actors * num_gpus
            if need_cpus <= cpus + 1e-9 and need_gpus <= gpus + 1e-9:
                return actors, settings.num_cpus, num_gpus
            if time.monotonic() >= deadline:
                raise RunError(
                    f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs; the audit asks for {actors} member actors x "
                    f"({settings.num_cpus:g} CPU, {num_gpus:g} GPU) = {need_cpus:g} CPUs, {need_gpus:g} GPUs. Lower "
                    f"execution.actors, num_cpus or num_gpus, or add nodes."
                )
            time.sleep(1.0)

    def _jobs(self, plan, ensembles: dict[str, LoadedEnsemble], needed: list[str]) -> list[MemberJob]:
        """One job per member: its file's bytes go to the object store once (equal files share one copy), kept
        on the named shelf for the actors (and their restarts) to find."""
        self.shelf = self.ray.remote(ModelShelf).options(name=self.shelf_name, num_cpus=0).remote()
        blobs: dict[str, object] = {}
        jobs = []
        for name in needed:
            ensemble = ensembles[name]
            config = ensemble.config
            for index, (ref, member) in enumerate(zip(plan.members[name], ensemble.members, strict=True)):
                path = Path(ref.path)
                if not path.is_file():
                    raise RunError(
                        f"{path}: the ray executor ships each member as one file through the object "
                        f"store; this member is not a single file."
                    )
                data = path.read_bytes()
                sha = hashlib.sha256(data).hexdigest()
                if sha not in blobs:
                    blobs[sha] = self.ray.put(data)
                    self.ray.get(self.shelf.keep.remote(sha, [blobs[sha]]))
                jobs.append(
                    MemberJob(
                        ensemble=name,
                        index=index,
                        name=member.name,
                        loader=config.loader,
                        options=dict(config.options),
                        output_index=config.output_index,
                        input_name=config.input_name,
                        task=config.task,
                        suffix=path.suffix,
                        sha256=sha,
                        fingerprint=member.fingerprint,
                        source=str(path),
                    )
                )
        self._blobs = blobs  # the driver owns the bytes for the whole run
        return jobs

    def _start_actors(self, jobs: list[MemberJob], ensembles: dict[str, LoadedEnsemble]) -> None:
        settings = self.settings
        count, num_cpus, num_gpus = self._placement(len(jobs))
        shares = [jobs[k::count] for k in range(count)]
        host = self.ray.remote(MemberHost).options(
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            max_restarts=settings.max_retries,
            max_task_retries=settings.max_retries,
        )
        threads = max(1, int(round(num_cpus)))
        namespace = self.ray.get_runtime_context().namespace
        self.actors = [
            host.remote(
                share,
                self.shelf_name,
                namespace,
                self.device,
                threads,
                worker_env(),
                self.allow_code,
                str(self.base_dir),
            )
            for share in shares
        ]
        self.holdings = [{job.ensemble for job in share} for share in shares]
        self.actor_pids = [set() for _ in shares]
        try:
            described = self.ray.get(
                [a.describe.remote() for a in self.actors], timeout=settings.resource_timeout_s
            )
        except self.ray.exceptions.GetTimeoutError as error:
            cpus, gpus = self._cluster()
            raise RunError(
                f"the Ray cluster ({cpus:g} CPUs, {gpus:g} GPUs) could not start {count} member actors "
                f"of {num_cpus:g} CPU and {num_gpus:g} GPU each within {settings.resource_timeout_s:g} s "
                f"(execution.resource_timeout_s); no node has room for one, or the cluster is busy."
            ) from error
        except Exception as error:
            raise _translate(error, "starting the member actors") from error
        for actor_index, description in enumerate(described):
            if description["version"] != __version__:
                raise RunError(
                    f"a Ray worker on {description['host']} runs uspec-audit {description['version']}, the "
                    f"driver {__version__}: install the same version on every node."
                )
            if description["plugins"] != self.registry.plugins:
                raise RunError(
                    f"a Ray worker on {description['host']} has other plugins than the driver "
                    f"({description['plugins']} vs {self.registry.plugins}): install the same on every node."
                )
            self.actor_pids[actor_index].add(description["pid"])
            for key, member in description["members"].items():
                name, index = key.rsplit("/", 1)
                members = ensembles[name].members  # the manifest records where predictions were computed
                members[int(index)] = RanOnCluster(members[int(index)], member["providers"])
        self.info.update(
            {
                "actors": count,
                "num_cpus": num_cpus,
                "num_gpus": num_gpus,
                "data": settings.data,
                "nodes": len(
                    {d["node"] for d in described}
                ),  # no host names: the manifest carries no machine identities
                "startup_s": round(
                    time.perf_counter() - self._started, 3
                ),  # connect, ship models, start actors
            }
        )

    # ------------------------------------------------------------------ waiting, bounded
    def _wait_ready(self, refs: list, what: str) -> None:
        deadline = time.monotonic() + self.settings.batch_timeout_s
        pending = list(refs)
        while pending:
            if self._stop.is_set():
                raise _Stopped
            _, pending = self.ray.wait(pending, num_returns=len(pending), timeout=1.0)
            if pending and time.monotonic() > deadline:
                raise RunError(
                    f"no result for {what} within {self.settings.batch_timeout_s:g} s "
                    f"(execution.batch_timeout_s); the cluster lost a node or is stuck."
                )

    def _get(self, refs, what: str):
        self._wait_ready(refs if isinstance(refs, list) else [refs], what)
        try:
            return self.ray.get(refs)
        except Exception as error:
            raise _translate(error, what) from error

    def _next(self, stream, what: str):
        """The next reference of a producer's stream, or None at its end (bounded wait)."""
        deadline = time.monotonic() + self.settings.batch_timeout_s
        while True:
            if self._stop.is_set():
                raise _Stopped
            ready, _ = self.ray.wait([stream], timeout=1.0)
            if ready:
                try:
                    return next(stream)
                except StopIteration:
                    return None
            if time.monotonic() > deadline:
                raise RunError(
                    f"no batch from the producer of {what} within {self.settings.batch_timeout_s:g} s "
                    f"(execution.batch_timeout_s)."
                )

    # ------------------------------------------------------------------ streams
    def _stream(self, item, readers: dict, fingerprints: dict, advance) -> dict:
        group = item.group
        what = f"dataset '{group.dataset}' [{group.variant.label}]"
        preparations = {
            preparation_key(e): LoadedEnsemble(
                e.name,
                e.config,
                [],
                [],
                tokenizer=e.tokenizer,
                tokenizer_fingerprint=e.tokenizer_fingerprint,
                code_identity=e.code_identity,
                declared_input=e.input_dims,
            )
            for e in item.ensembles
        }  # what a producer needs to prepare batches, without the members
        request = StreamRequest(
            group=group,
            dataset=readers[group.dataset].config,
            base_dir=self.base_dir,
            fingerprint=fingerprints[group.dataset],
            verify=self.settings.data == "shared",
            seed=self.seed,
            batch_size=self.batch_size,
            feature_stats=item.feature_stats,
            preparations=preparations,
            allow_code=tuple(self.allow_code),
        )
        names = {e.name for e in item.ensembles}
        consumers = [
            (k, a) for k, (a, held) in enumerate(zip(self.actors, self.holdings, strict=True)) if held & names
        ]
        wanted = [(e.name, preparation_key(e)) for e in item.ensembles]
        raw: dict[str, list[list[Any]]] = {e.name: [[] for _ in e.members] for e in item.ensembles}
        ids, targets, seconds = [], [], {e.name: 0.0 for e in item.ensembles}
        stream = self._produce.remote(request)
        in_flight: deque = deque()

        def collect() -> None:
            meta, refs = in_flight.popleft()
            results = self._get(refs, what)
            for (k, _), result in zip(consumers, results, strict=True):
                with self._lock:
                    self.actor_pids[k].add(result["pid"])
                for (name, index), output in result["outputs"].items():
                    raw[name][index].append(output)
                for name, spent in result["seconds"].items():
                    seconds[name] += spent
            ids.append(meta["ids"])
            targets.append(meta["targets"])
            with self._lock:
                advance(meta["n"])

        first = True
        while (meta_ref := self._next(stream, what)) is not None:
            meta = self._get(meta_ref, what)
            for message in meta.get("notices", ()):  # what the producer's checks of the first batch found
                notice(message)
            payload = self._next(stream, what)
            refs = [
                actor.predict.remote(payload, wanted, group, first, self.batch_size) for _, actor in consumers
            ]
            first = False
            in_flight.append((meta, refs))
            while len(in_flight) > DEPTH:
                collect()
        while in_flight:
            collect()
        return finish_group(group, item.ensembles, raw, ids, targets, seconds)

    def run(
        self,
        pending: list,
        plan,
        ensembles: dict[str, LoadedEnsemble],
        readers: dict,
        fingerprints: dict,
        progress,
    ) -> Iterator[tuple[Any, dict]]:
        """Yield (pending group, its units) as each group completes."""
        needed = sorted({e.name for item in pending for e in item.ensembles})
        self._start_actors(self._jobs(plan, ensembles, needed), ensembles)
        produce = self.ray.remote(produce_stream)
        strategy: Any = "DEFAULT"
        if self.settings.data == "driver-node":
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            strategy = NodeAffinitySchedulingStrategy(
                self.ray.get_runtime_context().get_node_id(), soft=False
            )
        self._produce = produce.options(
            num_returns="streaming",
            num_cpus=self.settings.producer_cpus,
            max_retries=self.settings.max_retries,
            scheduling_strategy=strategy,
            _generator_backpressure_num_objects=2 * (DEPTH + 1),
        )
        in_flight = self.settings.groups_in_flight or max(2, int(self._driver_node_cpus() // 2))
        in_flight = max(1, min(in_flight, len(pending)))
        self.info["groups_in_flight"] = in_flight
        total = sum(item.num_examples for item in pending)
        label = f"Inference on Ray ({len(pending)} streams, {len(self.actors)} actors)"
        with (
            progress.step(label, total) as advance,
            ThreadPoolExecutor(in_flight, "uspec-audit-stream") as pool,
        ):
            futures = {
                pool.submit(self._stream, item, readers, fingerprints, advance): item for item in pending
            }
            try:
                remaining = set(futures)
                while remaining:
                    done, remaining = wait(remaining, timeout=1.0, return_when=FIRST_EXCEPTION)
                    for future in done:
                        yield futures[future], future.result()
            finally:
                self._stop.set()
                for future in futures:
                    future.cancel()
        self.info["actor_restarts"] = sum(len(pids) - 1 for pids in self.actor_pids)

    def _driver_node_cpus(self) -> float:
        here = self.ray.get_runtime_context().get_node_id()
        for node in self.ray.nodes():
            if node.get("NodeID") == here:
                return float(node.get("Resources", {}).get("CPU", 2.0))
        return 2.0

    def describe(self) -> dict:
        """What the manifest records about this executor."""
        return dict(self.info)


def _translate(error: Exception, what: str) -> UspecError:
    """A Ray exception as the error the CLI reports (exit code 3), keeping our own errors' messages."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, UspecError):
        return cause
    if isinstance(error, UspecError) and not hasattr(error, "cause"):
        return error
    name = type(error).__name__
    text = str(cause if cause is not None else error).strip().splitlines()
    summary = text[-1] if text else name
    for prefix in ("uspec_audit.errors.RunError: ", "uspec_audit.errors.PluginError: "):
        if prefix in summary:  # our own error, raised where Ray could not hand it over as an object
            return RunError(summary.split(prefix, 1)[1])
    if "ActorDied" in name or "RayActorError" in name:
        return RunError(f"a member actor died while {what} and could not be restarted: {summary[:400]}")
    return RunError(f"Ray failed while {what}: {name}: {summary[:400]}")
