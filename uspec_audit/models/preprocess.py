"""Turn raw batch inputs into model inputs, as the ensemble's ``preprocess`` table says.

Layouts: sources yield images as ``(H, W, C)`` per example (NHWC batches) and
list columns in their declared ``shape``. ``NCHW`` transposes ``(H, W, C)`` to
``(C, H, W)``; ``NC`` flattens each example; ``NHWC`` and ``none`` pass the
array as it is. ``auto`` (the default) compares one example's shape with the
model's declared input and picks the only reading that fits:

* as is (``none``), transposed (``NCHW``, for examples of rank 3) or flattened
  (``NC``, for a model taking vectors);
* a free dimension of the model (``batch``, ``height``) fits any size;
* when both "as is" and "transposed" fit, or nothing fits, it is an error that
  names ``preprocess.layout``: the tool never guesses between two readings.

When the model declares no input shape (the torch loader), ``auto`` transposes
a rank-3 example only when it looks channels-last (last axis 1, 3 or 4 and the
first not) and keeps it when it looks channels-first; otherwise it asks for an
explicit layout.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from uspec_audit.config.models import Preprocess

CHANNELS = (1, 3, 4)
Dims = Sequence[int | str | None]


class LayoutError(ValueError):
    """No single layout turns the data into the model's input (the message names ``preprocess.layout``)."""


def _fits(shape: tuple[int, ...], dims: Dims) -> bool:
    return len(shape) == len(dims) and all(
        not isinstance(want, int) or want <= 0 or want == got for want, got in zip(dims, shape, strict=True)
    )


def layout_shape(layout: str, example: tuple[int, ...]) -> tuple[int, ...] | None:
    """One example's shape after ``layout``, or None when the layout does not apply to it."""
    if layout == "NCHW":
        return (example[2], example[0], example[1]) if len(example) == 3 else None
    if layout == "NC":
        return (int(np.prod(example)),)
    return tuple(example)


def _show(dims: Dims) -> str:
    return "[" + ", ".join(str(d) if d is not None else "?" for d in dims) + "]"


def resolve_layout(layout: str, example: Sequence[int], model_dims: Dims | None) -> str:
    """The layout to apply to examples of shape ``example`` for a model whose input is ``model_dims``
    (batch axis included; None when the model declares none). Explicit layouts are returned as given
    when they fit; ``auto`` is resolved. Raises :class:`LayoutError`."""
    example = tuple(int(s) for s in example)
    if model_dims is None:
        if layout != "auto":
            return layout
        if len(example) != 3:
            return "none"
        last, first = example[2] in CHANNELS, example[0] in CHANNELS
        if last and not first:
            return "NCHW"
        if first and not last:
            return "none"
        raise LayoutError(
            f"examples of shape {list(example)} could be channels-first or channels-last, and the "
            f'model declares no input shape; set preprocess.layout = "NCHW" (transpose HWC to '
            f'CHW) or "none" (feed as is) in the ensemble table.'
        )
    per_example = tuple(model_dims)[1:]
    readings = {"none": example, "NCHW": layout_shape("NCHW", example) if len(example) == 3 else None}
    if len(example) > 1:
        readings["NC"] = layout_shape("NC", example)
    fitting = [name for name, shape in readings.items() if shape is not None and _fits(shape, per_example)]
    described = {"none": "as is", "NCHW": "transposed to CHW (NCHW)", "NC": "flattened (NC)"}
    if layout != "auto":
        shape = layout_shape("none" if layout == "NHWC" else layout, example)
        if shape is not None and _fits(shape, per_example):
            return layout
        hint = (
            (
                f' The data fits {described[fitting[0]]}: set preprocess.layout = "{fitting[0]}" or leave it out '
                f'("auto").'
            )
            if len(fitting) == 1
            else ""
        )
        raise LayoutError(
            f'preprocess.layout = "{layout}" turns examples of shape {list(example)} into '
            f"{list(shape) if shape is not None else 'nothing (it needs rank-3 examples)'}, but the "
            f"model's input is {_show(model_dims)}.{hint}"
        )
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        raise LayoutError(
            f"examples of shape {list(example)} fit the model's input {_show(model_dims)} neither as "
            f"is, nor transposed (NCHW), nor flattened (NC); check the dataset's input column and "
            f"`shape`, or set preprocess.layout in the ensemble table."
        )
    raise LayoutError(
        f"examples of shape {list(example)} fit the model's input {_show(model_dims)} both "
        f"{' and '.join(described[f] for f in fitting)}; say which with preprocess.layout = "
        f"{' or '.join(repr(f) for f in fitting)} in the ensemble table."
    )


def preprocess(inputs, spec: Preprocess, model_dims: Dims | None = None) -> np.ndarray:
    """``(x / scale - mean) / std`` then the layout (resolved against ``model_dims`` when ``auto``).

    Text (object arrays) and integer dtypes pass through unchanged apart from
    the dtype, so that a tokenizer plugin can own them.
    """
    array = np.asarray(inputs)
    if array.dtype == object:
        return array
    dtype = np.dtype(spec.dtype)
    if np.issubdtype(dtype, np.integer):
        return array.astype(dtype, copy=False)
    layout: str = spec.layout
    if array.ndim >= 2 and (layout == "auto" or model_dims is not None):
        layout = resolve_layout(layout, array.shape[1:], model_dims)
    x = array.astype(np.float32 if dtype == np.float16 else dtype, copy=False)
    if spec.scale != 1.0:
        x = x / np.asarray(spec.scale, dtype=x.dtype)
    if spec.mean is not None:
        x = x - np.asarray(spec.mean, dtype=x.dtype)
    if spec.std is not None:
        x = x / np.asarray(spec.std, dtype=x.dtype)
    if layout == "NCHW":
        if x.ndim != 4:
            raise LayoutError(
                f'preprocess.layout = "NCHW" expects image batches (B, H, W, C); got shape {list(x.shape)}'
            )
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    elif layout == "NC":
        x = x.reshape(len(x), -1)
    return x.astype(dtype, copy=False)
