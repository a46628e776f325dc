"""Signal and noise in the spread across members (docs/methods.md §15).

The member values s_m of a metric on a test are estimates from a finite
sample of examples, so their observed variance across members,
``var_obs = var_m(s_m)`` (ddof = 1), is *systematic* variance (members really
differ on the population the test samples) plus *noise* (which examples
happened to be drawn). With Σ the ``(M, M)`` covariance of the members'
sampling errors,

    E[var_obs] = var_systematic + tr(C Σ C) / (M - 1),   C = I - 11'/M,

so ``systematic_var = var_obs - tr(C Σ C) / (M - 1)`` is unbiased, and
``systematic_sd = sqrt(max(0, systematic_var))``.

Σ for an *additive* metric (the mean over examples of a per-example value
x_mi: accuracy, error, NLL, Brier, MSE, MAE) is analytic: the sample
covariance over examples of the rows of x, divided by n. Then
``tr(C Σ C) / (M - 1) = MS_residual / n`` of the two-way (member x example)
ANOVA, and the estimate equals ``n / (n - 1)`` times ``var_obs`` minus the mean
of the errors-redistributed permutation null (§4): the classical unbiased
estimator of the member-effect variance. For other metrics Σ is the
covariance of bootstrap replicates over examples (:mod:`.resample`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "centered_trace",
    "cross_noise_cov",
    "mean_noise_cov",
    "noise_var",
    "replicate_noise_var",
    "systematic_var",
]


def mean_noise_cov(x: np.ndarray) -> np.ndarray:
    """``(M, M)`` covariance of the member means of ``x`` ``(M, n)`` over resampled examples.

    Sample covariance over examples (ddof = 1) divided by n; NaN when n < 2.
    """
    x = np.asarray(x, dtype=np.float64)
    m, n = x.shape
    if n < 2:
        return np.full((m, m), np.nan)
    xc = x - x.mean(axis=1, keepdims=True)
    return (xc @ xc.T) / ((n - 1.0) * n)


def cross_noise_cov(x_shared: np.ndarray, y_shared: np.ndarray, n_x: int, n_y: int) -> np.ndarray:
    """``(M, M)`` covariance between the member means of two tests that share examples.

    ``x_shared`` / ``y_shared``: ``(M, k)`` per-example values of the two tests
    on their k shared examples (the same example in the same column). For
    means over n_x and n_y examples drawn from one population,
    ``Cov(xbar_m, ybar_m') = k / (n_x n_y) * cov_k(x_m, y_m')``: a stratum of
    the iid test (k = n_y) gives ``cov / n_x``, a perturbed copy of it
    (k = n_x = n_y) gives ``cov / n``. Zero when k < 2.
    """
    x = np.asarray(x_shared, dtype=np.float64)
    y = np.asarray(y_shared, dtype=np.float64)
    k = x.shape[1]
    if k < 2:
        return np.zeros((x.shape[0], y.shape[0]))
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    return (xc @ yc.T) / (k - 1.0) * k / (float(n_x) * float(n_y))


def centered_trace(cov: np.ndarray) -> float:
    """``tr(C cov C)`` with C the centering matrix: the summed variance of the centered errors."""
    c = np.asarray(cov, dtype=np.float64)
    m = c.shape[0]
    return float(np.trace(c) - c.sum() / m) if m else float("nan")


def noise_var(cov: np.ndarray) -> float:
    """Expected between-member variance (ddof = 1) from sampling noise alone: ``tr(C Σ C) / (M - 1)``."""
    m = np.asarray(cov).shape[0]
    return max(0.0, centered_trace(cov) / (m - 1.0)) if m >= 2 else float("nan")


def systematic_var(values: np.ndarray, cov: np.ndarray) -> float:
    """Unbiased systematic between-member variance: ``var_m(values) - noise_var(cov)`` (may be negative)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2 or not np.isfinite(v).all():
        return float("nan")
    return float(np.var(v, ddof=1) - noise_var(cov))


def replicate_noise_var(cov: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Noise variance for resampled members: ``tr(C Σ[idx, idx] C) / (M - 1)`` per replicate row of ``idx``.

    A member drawn twice has perfectly correlated errors with itself; Σ is the
    full-sample estimate (its own sampling error is second order and ignored).
    """
    c = np.asarray(cov, dtype=np.float64)
    idx = np.asarray(idx)
    m = idx.shape[1]
    if m < 2:
        return np.full(idx.shape[0], np.nan)
    diag = np.diag(c)[idx].sum(axis=1)
    # sum_{k,l} c[idx_k, idx_l] = sum over member pairs of counts_a counts_b c[a, b]
    counts = np.zeros((idx.shape[0], c.shape[0]))
    np.add.at(counts, (np.arange(idx.shape[0])[:, None], idx), 1.0)
    total = np.einsum("ba,ac,bc->b", counts, c, counts)
    return np.maximum(0.0, (diag - total / m) / (m - 1.0))
