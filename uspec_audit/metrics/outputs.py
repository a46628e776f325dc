"""Turn raw member outputs into what the metrics consume.

An ensemble declares ``output = "logits" | "probabilities" | "scores"``;
:func:`to_probabilities` converts a member's raw output array accordingly:

- ``logits`` (classification): softmax over the last axis, numerically stable,
  in float64. A binary member with a single output column is read as the
  logit of the positive class (sigmoid).
- ``probabilities`` (classification): validated and, when rows sum to 1
  within ``1e-3``, renormalized exactly. A binary member with a single
  column is read as the positive-class probability.
- ``scores`` (regression): the values themselves, as float64 ``(n,)``.

Classification results are ``(n, K)`` float64 with ``K = 2`` for binary.
Any NaN/inf, out-of-range probability or unnormalized row raises
:class:`ValueError` naming the problem and the number of offending rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OUTPUT_KINDS", "ROW_SUM_TOLERANCE", "to_probabilities"]

OUTPUT_KINDS = ("logits", "probabilities", "scores")
ROW_SUM_TOLERANCE = 1e-3
_RANGE_TOLERANCE = 1e-9
_CLASSIFICATION_TASKS = ("multiclass", "binary")


def _rows(mask: np.ndarray) -> np.ndarray:
    return np.asarray(mask.any(axis=tuple(range(1, mask.ndim)))) if mask.ndim > 1 else mask


def _check_finite(values: np.ndarray, what: str) -> None:
    bad = _rows(~np.isfinite(values))
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what} contain NaN or infinite values in {n_bad} of {values.shape[0]} rows "
            f"(first at row {first}); the model produced non-finite outputs"
        )


def _softmax(logits: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # a huge spread of logits gives -inf, whose exp is an exact 0
        shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _validate_probabilities(probs: np.ndarray) -> np.ndarray:
    n = probs.shape[0]
    out_of_range = _rows((probs < -_RANGE_TOLERANCE) | (probs > 1.0 + _RANGE_TOLERANCE))
    n_bad = int(np.count_nonzero(out_of_range))
    if n_bad:
        first = int(np.flatnonzero(out_of_range)[0])
        raise ValueError(
            f"probabilities outside [0, 1] in {n_bad} of {n} rows (first at row {first}: "
            f"min {probs[first].min():.6g}, max {probs[first].max():.6g}); "
            'if the model outputs logits, declare output = "logits"'
        )
    probs = np.clip(probs, 0.0, 1.0)
    if probs.shape[1] == 1:
        return probs
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    n_bad = int(np.count_nonzero(off))
    if n_bad:
        first = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"probability rows do not sum to 1 (within {ROW_SUM_TOLERANCE:g}) in {n_bad} of {n} rows "
            f"(first at row {first}: sum {sums[first]:.6g}); if the model outputs logits or "
            'unnormalized scores, declare output = "logits"'
        )
    return probs / sums[:, None]


def to_probabilities(outputs: np.ndarray, output_kind: str, task: str) -> np.ndarray:
    """Convert raw model ``outputs`` of ``output_kind`` to metric inputs for ``task``.

    Returns float64 class probabilities ``(n, K)`` (``K = 2`` for binary) for
    ``multiclass``/``binary`` and float64 values ``(n,)`` for ``regression``.
    Raises :class:`ValueError` for an unknown kind or task, a kind that does
    not fit the task, a wrong shape, non-finite values, or invalid
    probabilities.
    """
    if output_kind not in OUTPUT_KINDS:
        raise ValueError(f"unknown output kind {output_kind!r}; expected one of {', '.join(OUTPUT_KINDS)}")
    if task not in (*_CLASSIFICATION_TASKS, "regression"):
        raise ValueError(f"unknown task {task!r}; expected multiclass, binary or regression")
    values = np.asarray(outputs, dtype=np.float64)
    if values.ndim == 0:
        raise ValueError("model outputs must be an array with one row per example, got a scalar")

    if task == "regression":
        if output_kind != "scores":
            raise ValueError(f'a regression ensemble must declare output = "scores", not {output_kind!r}')
        if values.ndim > 1:
            if int(np.prod(values.shape[1:])) != 1:
                raise ValueError(
                    f"regression outputs must have one value per example, got shape {values.shape}"
                )
            values = values.reshape(values.shape[0])
        _check_finite(values, "regression outputs")
        return values

    if output_kind == "scores":
        raise ValueError(
            f'output = "scores" is for regression; a {task} ensemble declares "logits" or "probabilities"'
        )
    if values.ndim == 1:
        if task != "binary":
            raise ValueError(
                f"{task} outputs must be (n, K) with one column per class, got shape {values.shape}"
            )
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(f"{task} outputs must be a 2-D array (n, K), got shape {values.shape}")
    n_cols = values.shape[1]
    if task == "binary" and n_cols not in (1, 2):
        raise ValueError(f"binary outputs must have 1 or 2 columns, got {n_cols}")
    if task == "multiclass" and n_cols < 2:
        raise ValueError(f"multiclass outputs need at least 2 columns (one per class), got {n_cols}")
    _check_finite(values, output_kind)

    if output_kind == "logits":
        if n_cols == 1:
            # scipy.special on first use: the registry imports this module before the members run, and
            # scipy.special's import (about 0.2 s) then belongs on the warm-up thread (engine/warmup.py)
            from scipy.special import expit

            # expit(-x) keeps the negative-class probability exact when p is near 1
            return np.stack([expit(-values[:, 0]), expit(values[:, 0])], axis=1)
        return _softmax(values.copy())

    probs = _validate_probabilities(values)
    if n_cols == 1:
        return np.stack([1.0 - probs[:, 0], probs[:, 0]], axis=1)
    return probs
