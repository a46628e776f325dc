"""Calibration: reliability curve and expected calibration error (ECE).

Both work on the *top-label* confidence ``max_k p_k`` and whether the arg-max
class is correct (Guo, Pleiss, Sun & Weinberger, 2017, "On Calibration of
Modern Neural Networks", ICML). Bins are ``n_bins`` equal-width intervals
``[l, u)`` of ``[0, 1]``, the last one closed at 1.0.
"""

from __future__ import annotations

import numpy as np

from uspec_audit.metrics._validate import classification_inputs

__all__ = ["ece", "expected_calibration_error", "reliability_curve"]


def _bin_edges(n_bins: int) -> np.ndarray:
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    # k / n_bins (not linspace) so that edges such as 0.3 are the floats that the literals denote
    return np.arange(int(n_bins) + 1, dtype=np.float64) / int(n_bins)


def reliability_curve(
    target, probs, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin statistics of top-label confidence.

    Returns ``(bin_lower, bin_upper, mean_confidence, accuracy, count)``, each
    of length ``n_bins``: the bin edges, the mean top-label confidence and the
    accuracy of the examples falling in each bin (NaN for an empty bin), and
    the number of examples (int64). Examples with non-finite probabilities
    are left out of every bin.
    """
    edges = _bin_edges(n_bins)
    labels, p = classification_inputs(target, probs)
    n_bins = edges.size - 1
    if labels.size:
        finite = np.all(np.isfinite(p), axis=1)
        labels, p = labels[finite], p[finite]
    confidence = p.max(axis=1) if labels.size else np.zeros(0)
    correct = (np.argmax(p, axis=1) == labels).astype(np.float64) if labels.size else np.zeros(0)
    bins = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins).astype(np.int64)
    conf_sum = np.bincount(bins, weights=confidence, minlength=n_bins)
    correct_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_confidence = np.where(count > 0, conf_sum / count, np.nan)
        accuracy = np.where(count > 0, correct_sum / count, np.nan)
    return edges[:-1].copy(), edges[1:].copy(), mean_confidence, accuracy, count


def expected_calibration_error(target, probs, n_bins: int = 10) -> float:
    """ECE = ``sum_b (n_b / n) |acc_b - conf_b|`` over the equal-width bins (Guo et al., 2017).

    NaN for empty input or when any probability is non-finite.
    """
    _bin_edges(n_bins)
    labels, p = classification_inputs(target, probs)
    if labels.size == 0 or not np.all(np.isfinite(p)):
        return float("nan")
    _, _, conf, acc, count = reliability_curve(labels, p, n_bins)
    filled = count > 0
    return float(np.sum(count[filled] / labels.size * np.abs(acc[filled] - conf[filled])))


def ece(target, prediction, task: str = "multiclass") -> float:
    """Metric wrapper: :func:`expected_calibration_error` with 10 bins."""
    return expected_calibration_error(target, prediction, n_bins=10)
