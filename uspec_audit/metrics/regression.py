"""Per-member regression metrics on ``float64`` targets and predictions ``(n,)``.

NaN when undefined: no examples, a non-finite value, or (for NMSE) a constant
target.
"""

from __future__ import annotations

import numpy as np

from uspec_audit.metrics._validate import regression_inputs

__all__ = ["mae", "mse", "nmse"]


def _prepare(target, prediction) -> tuple[np.ndarray, np.ndarray] | None:
    y, p = regression_inputs(target, prediction)
    if y.size == 0 or not (np.all(np.isfinite(y)) and np.all(np.isfinite(p))):
        return None
    return y, p


def mse(target, prediction, task: str = "regression") -> float:
    """Mean squared error."""
    prepared = _prepare(target, prediction)
    if prepared is None:
        return float("nan")
    y, p = prepared
    return float(np.mean((p - y) ** 2))


def nmse(target, prediction, task: str = "regression") -> float:
    """Normalized MSE: MSE divided by the variance of the target (``ddof = 0``).

    1.0 is the score of always predicting the target mean (``nmse = 1 - R^2``);
    NaN for a constant target.
    """
    prepared = _prepare(target, prediction)
    if prepared is None:
        return float("nan")
    y, p = prepared
    variance = float(np.var(y))
    if np.all(y == y[0]) or not variance > 0.0:
        return float("nan")
    return float(np.mean((p - y) ** 2) / variance)


def mae(target, prediction, task: str = "regression") -> float:
    """Mean absolute error."""
    prepared = _prepare(target, prediction)
    if prepared is None:
        return float("nan")
    y, p = prepared
    return float(np.mean(np.abs(p - y)))
