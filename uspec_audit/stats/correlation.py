"""Is performance on a stress test predictable from iid performance? (docs/methods.md §2; UP §4, Fig. 5)

Spearman and Pearson correlations between the member metrics on the
reference test and on a test ``t``, a percentile bootstrap CI over members
(members resampled with replacement, all replicates at once), a permutation
p-value, and the cross-test Spearman matrix. Members whose value is NaN on
either side are dropped (pairwise complete). Correlations are NaN when fewer
than three members remain or one side is constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uspec_audit.stats.distributions import pearson_p, rankdata

__all__ = [
    "CorrelationResult",
    "rowwise_pearson",
    "rowwise_spearman",
    "correlate",
    "spearman_matrix",
    "pair_correlations",
]


@dataclass(frozen=True)
class CorrelationResult:
    n_members: int
    spearman: float
    spearman_ci_low: float
    spearman_ci_high: float
    spearman_p: float
    pearson: float
    pearson_p: float


def rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row of ``x`` with the same row of ``y`` (shape ``(B, M)`` -> ``(B,)``).

    Rows where either side is constant give NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    num = (xc * yc).sum(axis=-1)
    den = np.sqrt((xc * xc).sum(axis=-1) * (yc * yc).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    # constant rows: the centred vector is exactly 0 up to rounding
    tiny = 1e-12 * np.maximum(np.abs(x).max(axis=-1), 1.0)
    tiny_y = 1e-12 * np.maximum(np.abs(y).max(axis=-1), 1.0)
    const = (np.abs(xc).max(axis=-1) <= tiny) | (np.abs(yc).max(axis=-1) <= tiny_y)
    r = np.where(const, np.nan, r)
    return np.clip(r, -1.0, 1.0)


def rowwise_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho of each row pair (average ranks for ties), ``(B, M)`` -> ``(B,)``."""
    rx = rankdata(np.asarray(x, dtype=np.float64), axis=-1)
    ry = rankdata(np.asarray(y, dtype=np.float64), axis=-1)
    return rowwise_pearson(rx, ry)


def _complete(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def correlate(
    x: np.ndarray,
    y: np.ndarray,
    rng_boot: np.random.Generator | None = None,
    n_boot: int = 2000,
    rng_perm: np.random.Generator | None = None,
    n_perm: int = 10000,
    level: float = 0.95,
    chunk: int = 20000,
) -> CorrelationResult:
    """Spearman/Pearson of ``x`` (member metric on ref) with ``y`` (on t).

    - ``spearman_ci_low/high``: percentile bootstrap over members (resample the
      M (x, y) pairs with replacement, ``n_boot`` replicates; replicates with a
      constant side are dropped).
    - ``spearman_p``: two-sided permutation p-value,
      ``(1 + #{|rho*| >= |rho|}) / (1 + n_perm)``, permuting ``y`` against ``x``.
    - ``pearson_p``: the exact p-value of :func:`scipy.stats.pearsonr` (:func:`.distributions.pearson_p`).
    """
    x, y = _complete(x, y)
    m = x.size
    nan = float("nan")
    if m < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return CorrelationResult(m, nan, nan, nan, nan, nan, nan)
    rx, ry = rankdata(x), rankdata(y)
    rho = float(rowwise_pearson(rx[None], ry[None])[0])
    r = float(rowwise_pearson(x[None], y[None])[0])
    p_pearson = pearson_p(x, y)
    lo = hi = nan
    if rng_boot is not None and n_boot > 0:
        reps = []
        step = max(1, chunk // max(m, 1) * 50)
        for start in range(0, n_boot, step):
            b = min(step, n_boot - start)
            idx = rng_boot.integers(0, m, size=(b, m))
            reps.append(rowwise_spearman(x[idx], y[idx]))
        rep = np.concatenate(reps)
        rep = rep[~np.isnan(rep)]
        if rep.size:
            a = (1.0 - level) / 2.0
            lo, hi = (float(v) for v in np.quantile(rep, [a, 1.0 - a]))
    p = nan
    if rng_perm is not None and n_perm > 0:
        count = 0
        step = max(1, chunk * 50 // max(m, 1))
        for start in range(0, n_perm, step):
            b = min(step, n_perm - start)
            perm = rng_perm.permuted(np.broadcast_to(ry, (b, m)), axis=1)
            null = rowwise_pearson(np.broadcast_to(rx, (b, m)), perm)
            count += int(np.count_nonzero(np.abs(null) >= abs(rho) - 1e-12))
        p = (1.0 + count) / (1.0 + n_perm)
    return CorrelationResult(m, rho, lo, hi, p, r, p_pearson)


def spearman_matrix(values: np.ndarray, method: str = "spearman") -> np.ndarray:
    """Correlation matrix between the columns (tests) of ``values`` (shape ``(M, T)``).

    Entry ``(a, b)`` correlates the member values on test ``a`` with those on
    test ``b`` over members with both values present (pairwise complete; NaN
    when fewer than three remain or a side is constant). ``method`` is
    ``"spearman"`` or ``"pearson"``.
    """
    v = np.asarray(values, dtype=np.float64)
    t = v.shape[1]
    out = np.full((t, t), np.nan)
    if not np.isnan(v).any():
        if v.shape[0] < 3:
            return out
        cols = rankdata(v, axis=0) if method == "spearman" else v
        c = cols - cols.mean(axis=0)
        norm = np.sqrt((c * c).sum(axis=0))
        const = np.abs(c).max(axis=0) <= 1e-12 * np.maximum(np.abs(cols).max(axis=0), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = c / norm
        out = np.clip(z.T @ z, -1.0, 1.0)
        out[const, :] = np.nan
        out[:, const] = np.nan
        return out
    for i in range(t):
        for j in range(i, t):
            x, y = _complete(v[:, i], v[:, j])
            if x.size < 3:
                continue
            if method == "spearman":
                x, y = rankdata(x), rankdata(y)
            out[i, j] = out[j, i] = rowwise_pearson(x[None], y[None])[0]
    return out


def pair_correlations(
    values: np.ndarray, a: np.ndarray, b: np.ndarray, method: str = "spearman"
) -> np.ndarray:
    """Correlations between the columns ``a[k]`` and ``b[k]`` of ``values`` ``(M, T)``, for each k.

    The same numbers as :func:`spearman_matrix` at ``(a[k], b[k])``, without
    building the ``(T, T)`` matrix: memory is ``O(M (T + K))`` for K pairs.
    """
    v = np.asarray(values, dtype=np.float64)
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    out = np.full(a.shape, np.nan)
    if a.size == 0:
        return out
    if not np.isnan(v).any():
        if v.shape[0] < 3:
            return out
        cols = rankdata(v, axis=0) if method == "spearman" else v
        c = cols - cols.mean(axis=0)
        norm = np.sqrt((c * c).sum(axis=0))
        const = np.abs(c).max(axis=0) <= 1e-12 * np.maximum(np.abs(cols).max(axis=0), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = c / norm
        r = np.clip(np.einsum("mk,mk->k", z[:, a], z[:, b]), -1.0, 1.0)
        return np.where(const[a] | const[b], np.nan, r)
    for k, (i, j) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        x, y = _complete(v[:, i], v[:, j])
        if x.size < 3:
            continue
        if method == "spearman":
            x, y = rankdata(x), rankdata(y)
        out[k] = rowwise_pearson(x[None], y[None])[0]
    return out
