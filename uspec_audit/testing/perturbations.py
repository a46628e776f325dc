"""The perturbation check of the testing kit (:func:`check_perturbation`) and how it measures change."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uspec_audit.components import PerturbContext
from uspec_audit.conformance import output_problems, same_outputs, take
from uspec_audit.testing.checks import ComponentCheckError, _fail, _resolve


def mean_absolute_change(original: Any, perturbed: Any) -> float:
    """How much a perturbation changed its inputs: the mean absolute difference of the values (arrays,
    in float64), or for text the mean share of characters changed, ``1 - difflib ratio``, per string."""
    if isinstance(original, np.ndarray) and original.dtype != object:
        return float(np.mean(np.abs(np.asarray(perturbed, dtype=np.float64) - original.astype(np.float64))))
    before = np.asarray(original, dtype=object).ravel().tolist()
    after = np.asarray(perturbed, dtype=object).ravel().tolist()
    if not before:
        return 0.0
    return float(
        np.mean([1 - difflib.SequenceMatcher(None, a, b).ratio() for a, b in zip(before, after, strict=True)])
    )


@dataclass(frozen=True)
class PerturbationReport:
    """What :func:`check_perturbation` measured: the change at each severity (see ``measure``)."""

    name: str
    change: dict[int | None, float] = field(default_factory=dict)


def _feature_stats(inputs: np.ndarray):
    from uspec_audit.components import FeatureStats

    x = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    return FeatureStats(
        mean=np.nanmean(x, 0),
        sd=np.nanstd(x, 0, ddof=1) if len(x) > 1 else np.zeros(x.shape[1]),
        minimum=np.nanmin(x, 0),
        maximum=np.nanmax(x, 0),
    )


def _copy(inputs: Any) -> Any:
    return inputs.copy() if isinstance(inputs, np.ndarray) else copy.deepcopy(inputs)


def check_perturbation(
    perturbation: Any,
    inputs: Any,
    *,
    severities: Sequence[int] | None = None,
    params: Any = None,
    ids: np.ndarray | None = None,
    seed: int = 0,
    monotone: bool | None = None,
    measure: Callable[[Any, Any], float] = mean_absolute_change,
    value_range: tuple[float, float] | None = None,
    feature_names: list[str] | None = None,
    allow_nan: bool = False,
    singles: int = 16,
) -> PerturbationReport:
    """Check a perturbation (its spec, or the name of an installed one) on a batch of raw ``inputs``.

    At every severity (default: all the spec declares) it must

    - keep the inputs' shape and dtype (text: structure and ``str``), produce finite values from finite
      ones (unless ``allow_nan``: a perturbation that makes values missing), stay within ``value_range``
      when given, and not shrink images to [0, 1];
    - leave its inputs unmodified (readers may hand out views of cached arrays);
    - be deterministic given the seeds: a second call gives the same outputs;
    - be independent of batch composition: the batch reversed, and each of the first ``singles`` examples
      alone, give each example the same outputs as the whole batch.

    And when ``monotone`` (default: whenever it has two or more severities), the change it makes,
    ``measure(inputs, outputs)`` (default :func:`mean_absolute_change`), must not decrease from one severity
    to the next and must grow from the lowest to the highest. Pass ``monotone=False`` for a perturbation
    that is not meant to be: several ImageNet-C corruptions are not by this measure (``saturate``
    desaturates at 1-2 and saturates at 4-5; ``frost``, ``snow`` and ``spatter`` draw a new texture per
    severity).

    Seeds are the engine's (:func:`uspec_audit.engine.seeds.example_seeds` of ``seed``, ``ids``, the name
    and the severity); ``params`` is a dict validated by the spec's model, or an instance of it.
    """
    from uspec_audit.engine.seeds import example_seeds

    record = _resolve(perturbation, "perturbation")
    spec = getattr(record, "spec", record)
    subject = f"perturbation '{spec.name}'"
    n = len(inputs)
    ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids)
    if spec.params is not None and not isinstance(params, spec.params):
        try:
            params = spec.params.model_validate(params or {})
        except Exception as error:
            raise ComponentCheckError(f"{subject}: params {params!r} are invalid: {error}") from error
    stats = _feature_stats(inputs) if spec.needs_feature_stats else None
    levels: list[int | None] = list(severities or spec.severities or [None])
    problems: list[str] = []
    report = PerturbationReport(spec.name)
    pristine = _copy(inputs)

    def apply(values: Any, rows: np.ndarray, severity: int | None) -> Any:
        context = PerturbContext(
            seeds=example_seeds(seed, ids[rows], spec.name, severity),
            severity=severity,
            params=params,
            feature_names=feature_names,
            feature_stats=stats,
            ids=ids[rows],
        )
        return spec.apply(values, context)

    everything = np.arange(n)
    for severity in levels:
        at = f"severity {severity}: " if severity is not None else ""
        try:
            outputs = apply(inputs, everything, severity)
        except Exception as error:
            problems.append(f"{at}it raised {type(error).__name__}: {error}")
            continue
        if not same_outputs(inputs, pristine):
            problems.append(f"{at}it modified its inputs in place; return a new array")
            inputs = _copy(pristine)
        found = output_problems(inputs, outputs, spec.modality, allow_nan)
        problems += [at + p for p in found]
        if found:
            continue
        if value_range is not None and isinstance(outputs, np.ndarray) and outputs.size:
            low, high = float(np.nanmin(outputs)), float(np.nanmax(outputs))
            if low < value_range[0] or high > value_range[1]:
                problems.append(f"{at}its values span [{low:.4g}, {high:.4g}], outside {list(value_range)}")
        if not same_outputs(outputs, apply(_copy(inputs), everything, severity)):
            problems.append(
                f"{at}a second call with the same seeds gave other outputs: draw every random number "
                f"from np.random.default_rng(ctx.seeds[i]), never from a global generator"
            )
        reverse = everything[::-1]
        if not same_outputs(take(outputs, reverse), apply(take(_copy(inputs), reverse), reverse, severity)):
            problems.append(
                f"{at}reversing the batch changed the examples' outputs: each example must depend on "
                f"its own seed and input only"
            )
        for i in everything[:singles]:
            row = np.array([i])
            if not same_outputs(take(outputs, row), apply(take(_copy(inputs), row), row, severity)):
                problems.append(
                    f"{at}example {i} alone gets other outputs than in the batch: the outputs depend on "
                    f"the batch's size or other examples"
                )
                break
        report.change[severity] = float(measure(inputs, outputs))
    wants_monotone = monotone if monotone is not None else len(levels) >= 2 and None not in levels
    if wants_monotone and len(report.change) == len(levels) >= 2:
        values = [report.change[s] for s in levels]
        shown = ", ".join(f"{s}: {v:.4g}" for s, v in zip(levels, values, strict=True))
        drops = [
            (levels[k], levels[k + 1])
            for k in range(len(levels) - 1)
            if values[k + 1] < values[k] - 1e-12 * max(1.0, abs(values[k]))
        ]
        if drops:
            problems.append(
                f"it is not monotone in severity: the change ({measure.__name__}) falls from severity "
                f"{drops[0][0]} to {drops[0][1]} ({shown})"
            )
        elif not values[-1] > values[0]:
            problems.append(f"its change ({measure.__name__}) does not grow with severity ({shown})")
    _fail(subject, problems)
    return report
