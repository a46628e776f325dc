"""Checks a plugin author calls in their own tests, one per component kind.

Each check runs the component the way an audit does (the same requests, the
same options validation, the same seeds, the same protocol checks) and then
more thoroughly than a run can afford (the perturbation check is in
:mod:`uspec_audit.testing.perturbations`). It raises :class:`ComponentCheckError`
(an ``AssertionError``, so pytest shows it as a failed assertion) listing
every problem found, or returns what it measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from uspec_audit.conformance import same_outputs
from uspec_audit.errors import UspecError


class ComponentCheckError(AssertionError):
    """A component did not pass a check; the message lists every problem."""


def _fail(subject: str, problems: list[str]) -> None:
    if problems:
        raise ComponentCheckError(f"{subject} failed its checks:\n" + "\n".join(f"  - {p}" for p in problems))


_registry = None


def registry(*, fresh: bool = False):
    """The registry of installed plugins (entry points), built once per test session."""
    global _registry
    if _registry is None or fresh:
        from uspec_audit.plugins import build_registry

        _registry = build_registry()
    return _registry


def registered(family: str, name: str) -> Any:
    """The registration (spec, plugin, package, version) of an installed component, or a clear failure."""
    found = registry()
    if name not in found.names(family):
        hint = found.failure_hint(family, name)
        raise ComponentCheckError(
            f"no {family} named '{name}' is registered.{hint or ' Is the plugin installed?'}"
        )
    return found.record(family, name)


def _resolve(component: Any, family: str) -> Any:
    """A registration for a name, the spec itself otherwise."""
    return registered(family, component) if isinstance(component, str) else component


def check_plugin(plugin: str) -> list[Any]:
    """The components an installed plugin (its entry-point name) registers; fails when it, or any of its
    components, was left out (unknown hook, import error, raising hook, invalid spec, name clash)."""
    found = registry(fresh=True)
    problems = [f.error for f in found.failures if f.plugin == plugin]
    if plugin not in {p["plugin"] for p in found.plugins} and not problems:
        problems.append(f"no plugin with the entry-point name '{plugin}' is installed (group 'uspec_audit')")
    _fail(f"plugin '{plugin}'", problems)
    return [item for item in found.all() if item.plugin == plugin]


# --------------------------------------------------------------------------- metrics


def check_metric(
    metric: Any,
    target: np.ndarray,
    prediction: np.ndarray,
    expected: float | Callable[..., float],
    *,
    task: str | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    seed: int = 0,
) -> float:
    """Check a metric (its spec, or the name of an installed one) against a reference on given arrays.

    ``expected`` is the value an independent computation gives (a float, or a function of ``(target,
    prediction)``, e.g. from scikit-learn). The metric must agree within ``rtol``/``atol`` (NaN agrees with
    NaN), support ``task`` (default: its first), return a float, leave its arguments unmodified and give the
    same value when the examples are shuffled. Returns the metric's value.
    """
    record = _resolve(metric, "metric")
    spec = getattr(record, "spec", record)
    subject = f"metric '{spec.name}'"
    task = task or spec.tasks[0]
    if task not in spec.tasks:
        raise ComponentCheckError(f"{subject} does not declare the task '{task}' (tasks: {list(spec.tasks)})")
    target, prediction = np.asarray(target), np.asarray(prediction, dtype=np.float64)
    reference = float(expected(target.copy(), prediction.copy()) if callable(expected) else expected)
    given_target, given_prediction = target.copy(), prediction.copy()
    problems = []
    value = spec.fn(target, prediction, task)
    if not isinstance(value, float | int | np.floating | np.integer) or isinstance(value, bool):
        problems.append(f"it returned a {type(value).__name__}, not a float")
        value = float("nan")
    value = float(value)
    if not (np.array_equal(target, given_target) and np.array_equal(prediction, given_prediction)):
        problems.append("it modified its arguments in place")
    if not (math.isnan(value) and math.isnan(reference)) and not math.isclose(
        value, reference, rel_tol=rtol, abs_tol=atol
    ):
        problems.append(f"it gives {value!r}, the reference {reference!r}")
    order = np.random.default_rng(seed).permutation(len(target))
    shuffled = float(spec.fn(given_target[order], given_prediction[order], task))
    if not (math.isnan(value) and math.isnan(shuffled)) and not math.isclose(
        value, shuffled, rel_tol=1e-9, abs_tol=1e-12
    ):
        problems.append(f"shuffling the examples changes it from {value!r} to {shuffled!r}")
    _fail(subject, problems)
    return value


# --------------------------------------------------------------------------- loaders and sources


def check_loader(
    loader: Any,
    path: str | Path,
    *,
    options: dict | None = None,
    inputs: Any = None,
    task: str = "multiclass",
    output_index: int = 0,
    input_name: str | None = None,
    device: str = "cpu",
    base_dir: str | Path = ".",
) -> Any:
    """Check a loader (its spec, or the name of an installed one) on a model file.

    The member is loaded the way a run loads it (options validated by the loader's model, a
    :class:`~uspec_audit.LoadRequest`, the :class:`~uspec_audit.Member` protocol checked) twice: the two
    fingerprints must agree. With ``inputs`` (a preprocessed batch), ``predict`` must return a numpy array with
    one row per example, the same twice, and the same for the batch split in two. ``path``'s suffix must be
    one the loader declares. Returns the loaded member (the loader's own object).
    """
    from uspec_audit.engine.loading import load_member

    record = _resolve(loader, "loader")
    spec = getattr(record, "spec", record)
    subject = f"loader '{spec.name}'"
    path = Path(path)
    problems = []
    if spec.suffixes and path.suffix.lower() not in {s.lower() for s in spec.suffixes}:
        problems.append(f"{path.name} does not end in a suffix it declares ({', '.join(spec.suffixes)})")

    def load():
        return load_member(
            record,
            path,
            name=path.stem,
            ensemble="check",
            options=options,
            device=device,
            output_index=output_index,
            input_name=input_name,
            task=task,
            base_dir=Path(base_dir),
        )

    try:
        first, second = load(), load()
    except UspecError as error:
        _fail(subject, [*problems, str(error)])
    if first.fingerprint != second.fingerprint:
        problems.append(
            f"two loads of {path.name} give different fingerprints ({first.fingerprint!r}, "
            f"{second.fingerprint!r}); the fingerprint must identify the model, not the load"
        )
    if inputs is not None:
        problems += _predict_problems(first, inputs)
    _fail(subject, problems)
    return first.member


def _predict_problems(member: Any, inputs: Any) -> list[str]:
    try:
        output = member.predict(inputs)
    except Exception as error:
        return [f"predict raised {type(error).__name__}: {error}"]
    if not isinstance(output, np.ndarray):
        return [f"predict returned a {type(output).__name__}, not a numpy array"]
    n = len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)
    problems = []
    if len(output) != n:
        problems.append(f"predict returned {len(output)} rows for {n} examples")
    if not np.allclose(output, member.predict(inputs), rtol=1e-5, atol=1e-6, equal_nan=True):
        problems.append("predict gives other outputs when called again on the same batch")
    if n >= 2 and not isinstance(inputs, dict) and len(output) == n:
        half = n // 2
        split = np.concatenate([member.predict(inputs[:half]), member.predict(inputs[half:])])
        if split.shape != output.shape or not np.allclose(
            split, output, rtol=1e-4, atol=1e-5, equal_nan=True
        ):
            problems.append(
                "predict gives other outputs for the batch split in two: each example's output must "
                "depend on that example only"
            )
    return problems


def check_source(
    source: Any,
    dataset: dict[str, Any],
    *,
    base_dir: str | Path = ".",
    batch_sizes: Sequence[int] = (1, 3, 64),
) -> Any:
    """Check a dataset source (its spec, or the name of an installed one) on a ``[datasets.NAME]`` table.

    ``dataset`` is the table as a dict (``{"path": "data.csv", "target": "y", "options": {...}}``; ``source``
    is filled in). The dataset is opened the way a run opens it (table and options validated, the
    :class:`~uspec_audit.DatasetReader` protocol checked), and for every batch size the batches must hold at
    most that many examples, together exactly ``num_examples``, with the ids, targets and attributes of
    ``metadata()`` in its order and the same inputs whatever the batch size; a second pass and a second
    open must give the same data and fingerprint. Returns the reader (the source's own object).
    """
    from pydantic import ValidationError

    from uspec_audit.config.models import Dataset
    from uspec_audit.data.opening import open_dataset

    record = _resolve(source, "source")
    spec = getattr(record, "spec", record)
    subject = f"dataset source '{spec.name}'"
    try:
        config = Dataset.model_validate({**dataset, "source": spec.name})
        opened = open_dataset(record, config, Path(base_dir), name="check")
        metadata = opened.metadata()
        fingerprint = opened.fingerprint()
        again = open_dataset(record, config, Path(base_dir), name="check")
        content = opened.content_hash()
    except (UspecError, ValidationError) as error:
        raise ComponentCheckError(f"{subject} failed its checks:\n  - {error}") from error
    problems = []
    if again.fingerprint() != fingerprint:
        problems.append("opening the same data twice gives different fingerprints")
    if not isinstance(content, str) or not content:
        problems.append(f"content_hash() returned {content!r}, not a non-empty str")
    reference = None
    for size in batch_sizes:
        try:
            batches = list(opened.iter_batches(size))
        except UspecError as error:
            problems.append(f"batch size {size}: {error}")
            continue
        if any(len(b) > size for b in batches):
            problems.append(f"batch size {size}: a batch holds {max(len(b) for b in batches)} examples")
        problems += _stream_problems(batches, metadata, f"batch size {size}")
        inputs = [b.inputs for b in batches]
        if reference is None:
            reference = (size, inputs)
        elif not _same_stream(reference[1], inputs):
            problems.append(f"batch sizes {reference[0]} and {size} give different inputs")
    second = list(opened.iter_batches(batch_sizes[-1]))
    if reference is not None and not _same_stream(reference[1], [b.inputs for b in second]):
        problems.append("a second pass over the data gives different inputs")
    _fail(subject, problems)
    return opened.reader


def _stream_problems(batches: list, metadata, where: str) -> list[str]:
    if not batches:
        return [f"{where}: no batches, but metadata() has {len(metadata)} rows"] if len(metadata) else []
    ids = np.concatenate([np.asarray(b.ids) for b in batches])
    problems = []
    if len(ids) != len(metadata):
        return [f"{where}: the batches hold {len(ids)} examples, metadata() {len(metadata)}"]
    if not np.array_equal(ids, metadata["id"].to_numpy()):
        problems.append(f"{where}: the batches' ids are not metadata()'s ids in its order")
    targets = np.concatenate([np.asarray(b.targets) for b in batches])
    if not np.array_equal(targets, metadata["target"].to_numpy()):
        problems.append(f"{where}: the batches' targets differ from metadata()'s")
    for column in metadata.columns:
        if column in ("id", "target"):
            continue
        values = np.concatenate([np.asarray(b.attributes.get(column, [])) for b in batches])
        if len(values) != len(metadata) or not np.array_equal(values, metadata[column].to_numpy()):
            problems.append(f"{where}: the batches' attribute '{column}' differs from metadata()'s")
    return problems


def _same_stream(first: list, second: list) -> bool:
    def flat(parts):
        if parts and all(isinstance(p, np.ndarray) and p.dtype != object for p in parts):
            return np.concatenate(parts)
        return np.asarray(
            [x for p in parts for x in (p.tolist() if isinstance(p, np.ndarray) else p)], dtype=object
        )

    return same_outputs(flat(first), flat(second))


# --------------------------------------------------------------------------- tokenizers


def check_tokenizer(
    tokenizer: Any,
    texts: list,
    *,
    path: str | Path | None = None,
    max_length: int = 16,
    options: dict | None = None,
    base_dir: str | Path = ".",
) -> dict[str, np.ndarray]:
    """Check a tokenizer (its spec, or the name of an installed one): made the way a run makes it, its
    ``encode_batch(texts)`` must return int64 arrays with one row per text, the same twice. Returns them."""
    from uspec_audit.config.options import validate_options
    from uspec_audit.conformance import tokenizer_problems
    from uspec_audit.protocols import TokenizerRequest

    record = _resolve(tokenizer, "tokenizer")
    spec = getattr(record, "spec", record)
    subject = f"tokenizer '{spec.name}'"
    base = Path(base_dir)
    try:
        validated = validate_options(spec.options, dict(options or {}), subject)
        made = spec.make(
            TokenizerRequest(
                ensemble="check",
                path=None if path is None else base / path,
                max_length=max_length,
                options=validated,
                base_dir=base,
            )
        )
    except Exception as error:
        raise ComponentCheckError(
            f"{subject} failed its checks:\n  - {type(error).__name__}: {error}"
        ) from error
    _fail(subject, tokenizer_problems(made))
    encoded = made.encode_batch(list(texts))
    problems = []
    if not isinstance(encoded, dict) or not encoded:
        _fail(subject, [f"encode_batch returned {type(encoded).__name__}, not a non-empty dict of arrays"])
    for name, array in encoded.items():
        if not isinstance(array, np.ndarray) or array.dtype != np.int64:
            problems.append(f"'{name}' is not an int64 numpy array")
        elif len(array) != len(texts):
            problems.append(f"'{name}' has {len(array)} rows for {len(texts)} texts")
    again = made.encode_batch(list(texts))
    if set(again) != set(encoded) or any(not np.array_equal(again[k], encoded[k]) for k in encoded):
        problems.append("encode_batch gives other arrays when called again")
    _fail(subject, problems)
    return encoded
