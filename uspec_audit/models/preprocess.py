"""Turn raw batch inputs into model inputs, as the ensemble's ``preprocess`` table says."""

from __future__ import annotations

import numpy as np

from uspec_audit.config.models import Preprocess


def preprocess(inputs, spec: Preprocess) -> np.ndarray:
    """``(x / scale - mean) / std`` then the layout (raw images are NHWC; NCHW transposes).

    Text (object arrays) and ``layout = "none"`` with integer dtypes pass through
    unchanged apart from the dtype, so that a tokenizer plugin can own them.
    """
    array = np.asarray(inputs)
    if array.dtype == object:
        return array
    dtype = np.dtype(spec.dtype)
    if np.issubdtype(dtype, np.integer):
        return array.astype(dtype, copy=False)
    x = array.astype(np.float32 if dtype == np.float16 else dtype, copy=False)
    if spec.scale != 1.0:
        x = x / np.asarray(spec.scale, dtype=x.dtype)
    if spec.mean is not None:
        x = x - np.asarray(spec.mean, dtype=x.dtype)
    if spec.std is not None:
        x = x / np.asarray(spec.std, dtype=x.dtype)
    if spec.layout == "NCHW":
        if x.ndim != 4:
            raise ValueError(f"layout NCHW expects image batches (B, H, W, C); got shape {x.shape}")
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    elif spec.layout == "NC":
        x = x.reshape(len(x), -1)
    return x.astype(dtype, copy=False)
