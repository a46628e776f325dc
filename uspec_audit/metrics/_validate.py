"""Input coercion shared by the metric functions.

Metrics return NaN when a metric is *undefined* on the data (empty input, a
single class present, a constant target); they raise :class:`ValueError` only
for inputs that no data could make valid (mismatched shapes, labels outside
``0..K-1``), since those are bugs in the caller, not properties of the data.
"""

from __future__ import annotations

import numpy as np


def classification_inputs(target, prediction) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(labels (n,) int64, probs (n, K) float64)``.

    A 1-D ``prediction`` is read as the positive-class probability of a binary
    task and expanded to ``[1 - p, p]``.
    """
    probs = np.asarray(prediction, dtype=np.float64)
    if probs.ndim == 1:
        probs = np.stack([1.0 - probs, probs], axis=1)
    if probs.ndim != 2:
        raise ValueError(f"prediction must be a (n, K) array of class probabilities, got shape {probs.shape}")
    raw = np.asarray(target)
    if raw.ndim != 1:
        raw = raw.reshape(-1)
    if raw.shape[0] != probs.shape[0]:
        raise ValueError(f"target has {raw.shape[0]} examples but prediction has {probs.shape[0]} rows")
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        as_float = raw.astype(np.float64)
        if not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
            raise ValueError("target must hold integer class labels")
        raw = as_float
    labels = raw.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(
            f"target labels must lie in 0..{probs.shape[1] - 1} (prediction has {probs.shape[1]} columns); "
            f"found labels in {labels.min()}..{labels.max()}"
        )
    return labels, probs


def regression_inputs(target, prediction) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(target (n,), prediction (n,))`` as float64."""
    y = np.asarray(target, dtype=np.float64).reshape(-1)
    p = np.asarray(prediction, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"target has {y.size} values but prediction has {p.size}")
    return y, p


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n, K)`` float64 indicator matrix of ``labels``."""
    out = np.zeros((labels.shape[0], n_classes), dtype=np.float64)
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out
