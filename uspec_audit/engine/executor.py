"""The local executor: stream each work group once through every member that needs it.

The pieces here (unit keys, perturbed and prepared batches, running the
members of an ensemble on one batch, turning raw outputs into a unit) are
shared with the Ray executor, so both compute the same numbers the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from uspec_audit.batch import Batch
from uspec_audit.components import FeatureStats, PerturbContext
from uspec_audit.config.models import Ensemble
from uspec_audit.engine import warmup
from uspec_audit.engine.cache import UnitPredictions
from uspec_audit.engine.perturb_checks import first_batch_notices
from uspec_audit.engine.plan import WorkGroup
from uspec_audit.engine.prefetch import prefetch
from uspec_audit.engine.seeds import example_seeds
from uspec_audit.errors import PluginError, RunError
from uspec_audit.fingerprint import spec_sha256
from uspec_audit.models.onnx import SharedBatch
from uspec_audit.models.preprocess import preprocess

if TYPE_CHECKING:
    from uspec_audit.protocols import Tokenizer


class Named(Protocol):
    """What :func:`run_members` reads of an ensemble: its name, for messages (a worker has only that)."""

    @property
    def name(self) -> str: ...


@dataclass
class LoadedEnsemble:
    """An ensemble's configuration with its loaded members."""

    name: str
    config: Ensemble
    members: list  # Member objects
    groups: list[str | None]
    tokenizer: Tokenizer | None = None
    tokenizer_fingerprint: str = ""
    code_identity: str = (
        ""  # the loader's and tokenizer's code identity (uspec_audit.identity): in every unit key
    )
    declared_input: list | None = None  # the members' input shape where they live elsewhere (Ray producers)

    def prepare(self, inputs):
        """Model inputs for a raw batch: the tokenizer's named arrays for text, else the preprocessing."""
        if self.tokenizer is not None:
            texts = [tuple(t) if isinstance(t, list | tuple | np.ndarray) else str(t) for t in inputs]
            return self.tokenizer.encode_batch(texts)
        return preprocess(inputs, self.config.preprocess, self.input_dims)

    @property
    def input_dims(self) -> list | None:
        """The first member's declared input shape (what preprocess.layout = "auto" resolves against)."""
        if not self.members:
            return self.declared_input
        return getattr(self.members[0], "input_shape", None)

    @property
    def member_names(self) -> list[str]:
        return [m.name for m in self.members]


def unit_key(
    ensemble: LoadedEnsemble,
    dataset_fingerprint: str,
    group: WorkGroup,
    audit_seed: int,
    perturbation_version: str,
) -> str:
    """Content fingerprint of one unit (see :mod:`uspec_audit.engine.cache`).

    Besides the data, the members and every setting, it holds the code identity of each component that
    produced the unit (:mod:`uspec_audit.identity`): the loader and tokenizer (``ensemble.code_identity``),
    the source (inside ``dataset_fingerprint``) and the perturbation (``group.code_identity``), so a changed
    plugin recomputes exactly the units it touched.
    """
    config = ensemble.config
    seeded = group.variant.perturbation is not None
    if not ensemble.code_identity or (
        seeded and not group.code_identity
    ):  # a key without them could go stale
        raise RunError(
            f"internal: the unit of ensemble '{ensemble.name}' on {group.dataset} [{group.variant.label}] "
            f"lacks a component identity."
        )
    return spec_sha256(
        "unit-v2",
        [(m.name, m.fingerprint) for m in ensemble.members],
        config.loader,
        ensemble.code_identity,
        config.task,
        config.output,
        config.num_classes,
        config.output_index,
        config.input_name,
        config.preprocess.model_dump(),
        config.options,
        config.tokenizer.model_dump() if config.tokenizer else None,
        ensemble.tokenizer_fingerprint,
        dataset_fingerprint,
        group.variant.label,
        group.variant.params_json,
        perturbation_version,
        group.code_identity,
        audit_seed if seeded else None,
    )


def compute_feature_stats(reader, batch_size: int) -> FeatureStats:
    """Streaming mean/sd/min/max of each input feature (for perturbations that scale by them)."""
    count, total, total_sq = 0, None, None
    low = high = None
    for batch in reader.iter_batches(batch_size):
        x = np.asarray(batch.inputs, dtype=np.float64).reshape(len(batch), -1)
        finite = np.where(np.isfinite(x), x, np.nan)
        total = np.nansum(finite, 0) if total is None else total + np.nansum(finite, 0)
        total_sq = np.nansum(finite**2, 0) if total_sq is None else total_sq + np.nansum(finite**2, 0)
        n = np.sum(np.isfinite(x), 0)
        count = n if isinstance(count, int) else count + n
        low = np.nanmin(finite, 0) if low is None else np.fmin(low, np.nanmin(finite, 0))
        high = np.nanmax(finite, 0) if high is None else np.fmax(high, np.nanmax(finite, 0))
    count = np.maximum(count, 1)
    mean = total / count
    variance = np.maximum(total_sq / count - mean**2, 0.0) * count / np.maximum(count - 1, 1)
    assert low is not None and high is not None  # the dataset had a batch: mean and variance exist too
    return FeatureStats(mean=mean, sd=np.sqrt(variance), minimum=low, maximum=high)


def perturbed_batches(
    reader,
    group: WorkGroup,
    registry,
    audit_seed: int,
    batch_size: int,
    device: str,
    feature_stats: FeatureStats | None,
) -> Callable[[], Iterator[Batch]]:
    """A generator factory yielding the group's batches, perturbed when the variant says so.

    The first batch of a perturbation is checked (:func:`uspec_audit.engine.perturb_checks.first_batch_notices`):
    outputs of another shape, dtype or scale, or outputs that differ when examples are perturbed again alone,
    become warnings of the run.
    """
    variant = group.variant
    record = registry.record("perturbation", variant.perturbation) if variant.perturbation else None
    spec = record.spec if record is not None else None

    def batches() -> Iterator[Batch]:
        first = True
        for batch in reader.iter_batches(batch_size):
            if record is None or spec is None:
                yield batch
                continue
            context = PerturbContext(
                seeds=example_seeds(audit_seed, batch.ids, spec.name, variant.severity),
                severity=variant.severity,
                params=variant.params,
                feature_names=reader.feature_names,
                feature_stats=feature_stats,
                device=device,
                ids=batch.ids,
            )
            try:
                inputs = spec.apply(batch.inputs, context)
            except Exception as error:
                origin, kind = ("", RunError) if record.builtin else (f" ({record.origin})", PluginError)
                raise kind(
                    f"perturbation '{spec.name}'{origin} (severity {variant.severity}) failed on dataset "
                    f"'{group.dataset}': {type(error).__name__}: {error}"
                ) from error
            if first:
                first = False
                first_batch_notices(record, batch.inputs, inputs, context, group)
            yield batch.replace_inputs(inputs)

    return batches


def preparation_key(ensemble: LoadedEnsemble) -> str:
    """Ensembles with equal keys take the same model inputs: each batch is prepared once per key."""
    config = ensemble.config
    return (
        config.preprocess.model_dump_json()
        + repr(ensemble.input_dims)
        + (config.tokenizer.model_dump_json() if config.tokenizer else "")
    )


def prepare_batch(batch: Batch, ensembles: list[LoadedEnsemble], dataset: str) -> dict[str, object]:
    """The model inputs of one raw batch, one preparation per distinct preprocessing."""
    prepared: dict[str, object] = {}
    for ensemble in ensembles:
        key = preparation_key(ensemble)
        if key not in prepared:
            try:
                prepared[key] = ensemble.prepare(batch.inputs)
            except (ValueError, TypeError) as error:
                raise RunError(
                    f"ensemble '{ensemble.name}' on dataset '{dataset}': cannot preprocess "
                    f"the inputs: {error}."
                ) from error
    return prepared


def _prepared_batches(make_batches, ensembles: list[LoadedEnsemble], dataset: str):
    """Batches with their model inputs: runs on the prefetch thread, so decoding, perturbing and preprocessing
    overlap inference."""

    def produce():
        for batch in make_batches():
            yield batch, prepare_batch(batch, ensembles, dataset)

    return produce


def run_members(
    ensemble: Named,
    members: list[tuple[int, Any]],
    x,
    group: WorkGroup,
    check: bool,
    pad_to: int | None = None,
) -> tuple[list[np.ndarray], float]:
    """Run ``members`` (index, member) of ``ensemble`` on one model-ready batch; return outputs and seconds.

    The batch is wrapped once in a :class:`SharedBatch`, so members that take it (ONNX) share one padded copy
    and one copy per device; inputs are checked against every member on the first batch (``check``).
    """
    shared = None if isinstance(x, dict) else SharedBatch(x, pad_to)
    outputs: list[np.ndarray] = []
    started = time.perf_counter()
    for _, member in members:
        if check and hasattr(member, "check_input"):
            member.check_input(x)
        try:
            if shared is not None and hasattr(member, "predict_shared"):
                outputs.append(np.asarray(member.predict_shared(shared)))
            else:
                outputs.append(np.asarray(member.predict(x)))
        except Exception as error:
            raise RunError(
                f"member '{member.name}' of ensemble '{ensemble.name}' failed on dataset "
                f"'{group.dataset}' ({group.variant.label}): {type(error).__name__}: "
                f"{str(error).splitlines()[0][:300] if str(error) else ''}"
            ) from error
    return outputs, time.perf_counter() - started


def run_group(
    group: WorkGroup,
    ensembles: list[LoadedEnsemble],
    reader,
    batch_size: int,
    make_batches,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, UnitPredictions]:
    """Stream one work group through every member of ``ensembles``; return their raw outputs per ensemble."""
    raw: dict[str, list[list[np.ndarray]]] = {e.name: [[] for _ in e.members] for e in ensembles}
    ids: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    checked = False
    seconds = {e.name: 0.0 for e in ensembles}
    for batch, prepared in prefetch(_prepared_batches(make_batches, ensembles, group.dataset)):
        ids.append(np.asarray(batch.ids))
        targets.append(np.asarray(batch.targets))
        for ensemble in ensembles:
            outputs, spent = run_members(
                ensemble,
                list(enumerate(ensemble.members)),
                prepared[preparation_key(ensemble)],
                group,
                not checked,
                batch_size,
            )
            for index, output in enumerate(outputs):
                raw[ensemble.name][index].append(output)
            seconds[ensemble.name] += spent
        checked = True
        if on_batch is not None:
            on_batch(len(batch))
    return finish_group(group, ensembles, raw, ids, targets, seconds)


def finish_group(
    group: WorkGroup,
    ensembles: list[LoadedEnsemble],
    raw: dict[str, list[list[np.ndarray]]],
    ids: list[np.ndarray],
    targets: list[np.ndarray],
    seconds: dict[str, float],
) -> dict[str, UnitPredictions]:
    """The units of a streamed group: raw per-batch outputs of every member, concatenated and converted."""
    all_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    all_targets = np.concatenate(targets) if targets else np.zeros(0)
    return {e.name: _finish(e, raw[e.name], all_ids, all_targets, group, seconds[e.name]) for e in ensembles}


def _finish(
    ensemble: LoadedEnsemble,
    outputs: list[list[np.ndarray]],
    ids: np.ndarray,
    targets: np.ndarray,
    group: WorkGroup,
    seconds: float,
) -> UnitPredictions:
    """Convert raw outputs to probabilities (classification) or predictions (regression), member by member."""
    warmup.wait()  # metrics.outputs (scipy.special) is being imported on the warm-up thread
    from uspec_audit.metrics.outputs import to_probabilities

    config = ensemble.config
    converted = []
    for member, chunks in zip(ensemble.members, outputs, strict=True):
        array = np.concatenate(chunks) if chunks else np.zeros((0, config.num_classes or 2))
        if config.task == "regression":
            array = array.reshape(len(array), -1)
            if array.shape[1] != 1:
                raise RunError(
                    f"member '{member.name}' of ensemble '{ensemble.name}': a regression model must give "
                    f"one output per example; got shape {list(array.shape)}."
                )
        try:
            values = to_probabilities(array, config.output, config.task)
        except ValueError as error:
            raise RunError(
                f"member '{member.name}' of ensemble '{ensemble.name}' on dataset '{group.dataset}' "
                f"({group.variant.label}): {error}."
            ) from error
        if (
            config.num_classes is not None
            and config.task != "regression"
            and values.shape[1] != config.num_classes
        ):
            raise RunError(
                f"member '{member.name}' of ensemble '{ensemble.name}' gives {values.shape[1]} classes; "
                f"the ensemble declares num_classes = {config.num_classes}."
            )
        converted.append(values)
    shapes = {v.shape for v in converted}
    if len(shapes) > 1:
        raise RunError(
            f"ensemble '{ensemble.name}': members give outputs of different shapes {sorted(shapes)}; "
            f"members of one ensemble must solve the same task."
        )
    outputs_array = np.stack(converted).astype(np.float32 if config.task != "regression" else np.float64)
    _check_targets(ensemble, targets, outputs_array, group)
    return UnitPredictions(
        members=ensemble.member_names, ids=ids, target=targets, outputs=outputs_array, seconds=seconds
    )


def _check_targets(
    ensemble: LoadedEnsemble, targets: np.ndarray, outputs: np.ndarray, group: WorkGroup
) -> None:
    if ensemble.config.task == "regression":
        bad = ~np.isfinite(targets.astype(np.float64))
        if bad.any():
            raise RunError(
                f"dataset '{group.dataset}': {int(bad.sum())} regression targets are NaN or infinite."
            )
        return
    classes = outputs.shape[-1]
    try:
        labels = targets.astype(np.int64)
    except (TypeError, ValueError) as error:
        raise RunError(
            f"dataset '{group.dataset}': labels must be integer class indices ({error})."
        ) from error
    if not np.array_equal(labels, targets.astype(np.float64)) and targets.dtype.kind == "f":
        raise RunError(
            f"dataset '{group.dataset}': labels must be integer class indices; found non-integer values."
        )
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        raise RunError(
            f"dataset '{group.dataset}': {int(bad.sum())} labels are outside the class range 0..{classes - 1} "
            f"of ensemble '{ensemble.name}' (e.g. {labels[bad][:5].tolist()})."
        )
