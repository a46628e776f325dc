"""Does a component's object do what its protocol says? Shared by the engine and :mod:`uspec_audit.testing`.

The engine checks every member, reader and tokenizer right after the factory
returns it, every batch a reader yields, and the first batch of every
perturbation; a problem becomes an error (or, for a perturbation's outputs, a
warning) that names the plugin, the component and the audit key
(:class:`Blame`). The plugin testing kit runs the same checks, and more
thorough ones, in a plugin author's own tests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from uspec_audit.errors import AuditFileError, PluginError, RunError, UspecError


@dataclass(frozen=True)
class Blame:
    """Who made a component, for messages: ``loader 'x/npz' (plugin 'x' (x-pkg 1.0))``."""

    noun: str
    name: str
    origin: str = "built in"
    builtin: bool = True

    @classmethod
    def of(cls, record: Any, noun: str) -> Blame:
        """From a :class:`~uspec_audit.components.Registered` record."""
        return cls(noun, record.name, record.origin, record.builtin)

    @classmethod
    def of_spec(cls, spec: Any, noun: str, callable_: Any) -> Blame:
        """From a bare spec (no registry at hand): the distribution that ships ``callable_`` names it."""
        from uspec_audit.identity import distribution_of

        module = getattr(callable_, "__module__", "") or ""
        if module.split(".")[0] == "uspec_audit":
            return cls(noun, spec.name)
        package, version = distribution_of(module) if module else ("", "")
        shown = f"package {package} {version}".strip() if package else f"module {module or '?'}"
        return cls(noun, spec.name, shown, False)

    @property
    def subject(self) -> str:
        return f"{self.noun} '{self.name}' ({self.origin})"

    def error(self, doing: str, error: BaseException) -> UspecError:
        """The error to raise for ``error`` raised inside the component while ``doing`` something.

        A built-in component's own :class:`RunError` passes unchanged (its messages are already written for
        users); anything else is prefixed with the component and its plugin. An :class:`AuditFileError`
        keeps its class (exit code 2), everything else from a plugin becomes a :class:`PluginError` (3).
        """
        if isinstance(error, UspecError):
            if self.builtin:
                return error
            cls = AuditFileError if isinstance(error, AuditFileError) else PluginError
            return cls(f"{self.subject} {doing}: {error}")
        text = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        detail = f"{type(error).__name__}: {text}" if text else type(error).__name__
        return (RunError if self.builtin else PluginError)(f"{self.subject} {doing}: {detail}")

    def broken(self, what: str, problems: list[str], hint: str = "") -> UspecError:
        """The error for an object that does not follow its protocol."""
        listed = "; ".join(problems)
        return (RunError if self.builtin else PluginError)(f"{self.subject}: {what} {listed}.{hint}")


def call_component(record: Any, noun: str, doing: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)``, a callable of a registered component; what it raises names the component and its plugin
    (:meth:`Blame.error`)."""
    try:
        return fn(*args)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as error:
        raise Blame.of(record, noun).error(doing, error) from error


def _has_callable(obj: Any, name: str) -> bool:
    try:
        return callable(getattr(obj, name))
    except AttributeError:
        return False
    except Exception:  # a property that raises is the component's problem, reported where it is used
        return True


def member_problems(member: Any) -> list[str]:
    """What a loaded member lacks of the :class:`uspec_audit.Member` protocol."""
    problems = []
    try:
        fingerprint = member.fingerprint
        if not isinstance(fingerprint, str) or not fingerprint:
            problems.append(
                f"its fingerprint must be a non-empty str (e.g. the file's sha256), got {fingerprint!r}"
            )
    except AttributeError:
        problems.append(
            "it has no `fingerprint` (a str that changes when the model does, e.g. the file's sha256)"
        )
    try:
        providers = member.providers
        if not isinstance(providers, list | tuple) or not all(isinstance(p, str) for p in providers):
            problems.append(f"its providers must be a list of str (where it runs), got {providers!r}")
    except AttributeError:
        problems.append("it has no `providers` (a list of str naming where it runs, e.g. ['cpu'])")
    if not _has_callable(member, "predict"):
        problems.append("it has no `predict(x)` method")
    return problems


READER_METHODS = ("metadata", "iter_batches", "fingerprint", "content_hash")


def reader_problems(reader: Any) -> list[str]:
    """What a dataset reader lacks of the :class:`uspec_audit.DatasetReader` protocol."""
    problems = []
    for attribute, what in (("path", "the file or folder it reads"), ("num_examples", "an int")):
        try:
            getattr(reader, attribute)
        except AttributeError:
            problems.append(f"it has no `{attribute}` ({what})")
    count = getattr(reader, "num_examples", 0)
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
        if hasattr(reader, "num_examples"):
            problems.append(f"its num_examples must be a non-negative int, got {count!r}")
    try:
        names = reader.feature_names
        if names is not None and not (
            isinstance(names, list | tuple) and all(isinstance(n, str) for n in names)
        ):
            problems.append(f"its feature_names must be a list of str or None, got {names!r}")
    except AttributeError:
        problems.append("it has no `feature_names` (a list of str, or None)")
    for method in READER_METHODS:
        if not _has_callable(reader, method):
            problems.append(f"it has no `{method}()` method")
    return problems


def tokenizer_problems(tokenizer: Any) -> list[str]:
    """What a tokenizer lacks of the :class:`uspec_audit.Tokenizer` protocol."""
    problems = [] if _has_callable(tokenizer, "encode_batch") else ["it has no `encode_batch(texts)` method"]
    fingerprint = getattr(tokenizer, "fingerprint", "")
    if fingerprint is not None and not isinstance(fingerprint, str):
        problems.append(f"its optional fingerprint must be a str, got {fingerprint!r}")
    return problems


def batch_problems(batch: Any) -> list[str]:
    """What is wrong with one batch a reader yielded (type, matching lengths)."""
    from uspec_audit.batch import Batch

    if not isinstance(batch, Batch):
        return [f"it yielded a {type(batch).__name__}, not a uspec_audit.Batch"]
    problems = []
    n = len(batch.ids)
    for label, value in (("inputs", batch.inputs), ("targets", batch.targets)):
        try:
            if value is not None and len(value) != n:
                problems.append(f"a batch holds {n} ids but {len(value)} {label}")
        except TypeError:
            problems.append(f"the batch's {label} has no length ({type(value).__name__})")
    for name, values in (batch.attributes or {}).items():
        if len(values) != n:
            problems.append(f"a batch holds {n} ids but {len(values)} values of attribute '{name}'")
    return problems


def metadata_problems(frame: Any, attributes: list[str], count: int) -> list[str]:
    """What is wrong with the frame a reader's ``metadata()`` returned."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        return [f"metadata() returned a {type(frame).__name__}, not a pandas DataFrame"]
    problems = []
    missing = [c for c in ("id", "target", *attributes) if c not in frame.columns]
    if missing:
        problems.append(
            f"metadata() lacks the columns {missing} (it needs id, target and every attribute the "
            f"dataset table names)"
        )
    if len(frame) != count:
        problems.append(f"metadata() has {len(frame)} rows but num_examples is {count}")
    if "id" in frame.columns and not frame["id"].is_unique:
        problems.append("metadata() ids are not unique; ids must identify examples")
    return problems


# --------------------------------------------------------------------------- perturbations


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype != object


def _texts(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=object)


def output_problems(inputs: Any, outputs: Any, modality: str, allow_nan: bool = True) -> list[str]:
    """Shape, dtype and range of a perturbation's outputs against its inputs.

    Arrays keep their shape and dtype; for images, values must not shrink to [0, 1] from a larger range (a
    perturbation that works in [0, 1] and forgets to scale back); unless ``allow_nan``, values that were
    finite stay finite (a perturbation may mean to make values missing, as ``missingness`` does).
    Text keeps its structure: as many strings, each still a string, a list stays a list.
    """
    if _is_array(inputs):
        if not isinstance(outputs, np.ndarray):
            return [f"it returned a {type(outputs).__name__} for a numpy array input; return an array"]
        problems = []
        if outputs.shape != inputs.shape:
            problems.append(f"it changed the shape from {list(inputs.shape)} to {list(outputs.shape)}")
        if outputs.dtype != inputs.dtype:
            low, high = _range(outputs)
            problems.append(
                f"it changed the dtype from {inputs.dtype} to {outputs.dtype} (values in "
                f"[{low:.4g}, {high:.4g}]); return the input's dtype and scale"
                + (" (0..255 for uint8 images)" if inputs.dtype == np.uint8 else "")
            )
        elif inputs.dtype.kind == "f" and outputs.shape == inputs.shape:
            became = ~np.isfinite(outputs) & np.isfinite(inputs)
            if not allow_nan and became.any():
                problems.append(f"it turned {int(became.sum())} finite values into NaN or infinity")
            if modality == "image":
                in_low, in_high = _range(inputs)
                out_low, out_high = _range(outputs)
                fractional = np.any(np.mod(outputs[np.isfinite(outputs)], 1) != 0)
                if in_high > 2 and 0 < out_high <= 1 and fractional:
                    problems.append(
                        f"it shrank the values from [{in_low:.4g}, {in_high:.4g}] to [{out_low:.4g}, "
                        f"{out_high:.4g}]: a change of scale? return values on the input's scale"
                    )
        return problems
    if isinstance(inputs, list | tuple | np.ndarray):
        if isinstance(inputs, list) and not isinstance(outputs, list):
            return [f"it returned a {type(outputs).__name__} for a list input; return a list"]
        try:
            before, after = _texts(inputs), _texts(outputs)
        except Exception as error:
            return [f"its outputs cannot be compared with its inputs ({error})"]
        if before.shape != after.shape:
            return [f"it changed the structure from {list(before.shape)} to {list(after.shape)}"]
        kinds = {type(v) for v in before.ravel()}
        if kinds <= {str}:
            wrong = [type(v).__name__ for v in after.ravel() if not isinstance(v, str)]
            if wrong:
                return [f"it returned {len(wrong)} non-str values (e.g. {wrong[0]}) for str inputs"]
    return []


def _range(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return float("nan"), float("nan")
    return float(np.min(finite)), float(np.max(finite))


def same_outputs(first: Any, second: Any, tolerant: bool = False) -> bool:
    """Equal outputs: exactly for integers and text, to float rounding (1e-6 relative) for floats.

    ``tolerant``: integers may differ by one and floats by 0.2% of the largest value, which a GPU kernel
    chosen for another batch size (TF32 convolutions, FFTs) can cause; another random draw or a batch
    statistic changes outputs by far more.
    """
    if _is_array(first) and _is_array(second):
        if first.shape != second.shape or first.dtype != second.dtype:
            return False
        if first.dtype.kind == "f":
            scale = float(np.nanmax(np.abs(first))) if first.size and np.isfinite(first).any() else 1.0
            rtol, atol = (2e-3, 2e-3 * max(scale, 1e-12)) if tolerant else (1e-6, 1e-9)
            return bool(np.allclose(first, second, rtol=rtol, atol=atol, equal_nan=True))
        if tolerant and first.dtype.kind in "iu":
            return bool(np.max(np.abs(first.astype(np.int64) - second.astype(np.int64)), initial=0) <= 1)
        return bool(np.array_equal(first, second))
    try:
        a, b = _texts(first), _texts(second)
    except Exception:
        return False
    return a.shape == b.shape and all(
        x == y for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True)
    )


def take(inputs: Any, rows: np.ndarray) -> Any:
    """The rows of a batch's inputs (arrays, object arrays or lists)."""
    if isinstance(inputs, list):
        return [inputs[i] for i in rows]
    return inputs[rows]


def sliced_context(ctx: Any, rows: np.ndarray) -> Any:
    """The context of a sub-batch: seeds and ids of ``rows``, everything else shared."""
    return dataclasses.replace(
        ctx, seeds=np.asarray(ctx.seeds)[rows], ids=None if ctx.ids is None else np.asarray(ctx.ids)[rows]
    )


def rerun_problems(apply: Any, inputs: Any, outputs: Any, ctx: Any, rows: int = 8) -> list[str]:
    """Apply the perturbation again to the last ``rows`` examples of the batch, alone, and compare.

    A different result means the outputs depend on something besides each example's seed: a global random
    generator (a second run differs), or the rest of the batch (batch size, order, which examples share it).
    The last rows are used because a generator seeded once per batch gives the *first* rows the same draws
    in a smaller batch. The comparison tolerates the rounding differences of GPU kernels
    (:func:`same_outputs` ``tolerant``).
    """
    n = len(inputs)
    if n == 0:
        return []
    picked = np.arange(max(0, n - rows), n)
    again = apply(take(inputs, picked), sliced_context(ctx, picked))
    if same_outputs(take(outputs, picked), again, tolerant=True):
        return []
    return [
        "applied again to examples of the batch, with the same seeds, it gave different outputs: it draws "
        "randomness from somewhere other than ctx.seeds (a global generator, one generator per batch) or "
        "depends on the other examples of the batch"
    ]
