"""The metric ``template/error_rate``: 1 - accuracy."""

from __future__ import annotations

import numpy as np


def error_rate(target: np.ndarray, prediction: np.ndarray, task: str) -> float:
    """Share of examples whose arg-max class is wrong (NaN without examples)."""
    if len(target) == 0:
        return float("nan")
    return float(np.mean(prediction.argmax(axis=1) != target.astype(np.int64)))
