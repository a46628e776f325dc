"""Multi-bootstrap: uncertainty of ensemble-level numbers (docs/methods.md §11; Sellam et al. 2021).

Each replicate resamples the members (seeds) with replacement **and** the
examples with replacement, the same example indices for every member
(stratified by a label array so that no stratum vanishes), then recomputes the
statistic: mean over members of the metric, its SD, an SD ratio, or a
difference between two tests or two ensembles.

Only *additive* metrics (the mean of a per-example value: accuracy, NLL,
Brier, MSE) are handled, which makes a replicate a matrix product: member
metrics on resampled examples are ``W @ X.T / n`` with ``W`` the ``(B, n)``
resampling counts, computed in chunks of replicates so memory stays bounded.
Member resampling then picks columns: ``A[b, idx[b]]``.

Percentile CIs ignore replicates where the statistic is undefined (NaN).
Bootstrap p-values have the Monte Carlo form ``(1 + b) / (1 + B)`` and are
never 0 (docs/methods.md §16): :func:`one_sided_p` counts the replicates
<= 0 (small p: the difference is reliably positive), :func:`two_sided_p`
doubles the smaller tail (is the difference away from 0 in either
direction?). Many p-values: control the FDR with :func:`bh`
(Benjamini-Hochberg, as :func:`scipy.stats.false_discovery_control`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from uspec_audit.stats.distributions import bh_adjusted

__all__ = [
    "BootstrapSummary",
    "bh",
    "count_blocks",
    "example_index_chunks",
    "member_indices",
    "member_mean_replicates",
    "multi_bootstrap",
    "percentile_ci",
    "replicate_mean_sd",
    "one_sided_p",
    "two_sided_p",
    "bootstrap_difference",
    "bootstrap_differences",
]


@dataclass(frozen=True)
class BootstrapSummary:
    mean_ci: tuple[float, float]
    sd_ci: tuple[float, float]
    mean_reps: np.ndarray  # (B,)
    sd_reps: np.ndarray  # (B,)


def example_index_chunks(
    n: int, n_boot: int, rng: np.random.Generator, strata: np.ndarray | None = None, chunk: int = 100
) -> Iterator[np.ndarray]:
    """Yield ``(b, n)`` arrays of resampled example indices, ``n_boot`` rows in all.

    With ``strata`` (a label per example), each stratum's examples are
    resampled within the stratum (its size is kept), otherwise all n at once.
    Indices are int32 when n allows (the generator draws the same values for
    int32 and int64; half the bytes to write and read).
    """
    dtype = np.int32 if n < 2**31 else np.int64
    groups: list[np.ndarray] | None = None
    if strata is not None:
        lab = np.asarray(strata)
        _, inv = np.unique(lab, return_inverse=True)
        groups = [np.flatnonzero(inv == g).astype(dtype) for g in range(int(inv.max()) + 1)] if n else []
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        if groups is None:
            yield rng.integers(0, n, size=(b, n), dtype=dtype)
            continue
        idx = np.empty((b, n), dtype=dtype)
        pos = 0
        for g in groups:
            idx[:, pos : pos + g.size] = g[rng.integers(0, g.size, size=(b, g.size), dtype=dtype)]
            pos += g.size
        yield idx


#: Example counts per block of :func:`count_blocks` (4 MiB of float64). Blocks this size are recycled by the
#: allocator; whole chunks of counts (tens of MB) were fresh memory-mapped pages every time, and faulting them
#: in cost more than the arithmetic.
BLOCK_ELEMENTS = 1 << 19


def count_blocks(
    idx: np.ndarray, n: int, dtype: type = np.float64, block_elements: int = BLOCK_ELEMENTS
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, counts)`` for consecutive row blocks of the resampled indices ``idx`` ``(b, n)``.

    ``counts[r, i]`` is how often example i is drawn in row ``first + r``. The
    array is one buffer reused from block to block: use it before asking for
    the next block.
    """
    b = idx.shape[0]
    rows = max(1, min(b, block_elements // max(n, 1)))
    buffer = np.empty((rows, n), dtype=dtype)
    offsets = (np.arange(rows, dtype=np.int64) * n)[:, None]
    for first in range(0, b, rows):
        block = idx[first : first + rows]
        r = block.shape[0]
        counts = buffer[:r]
        counts.reshape(-1)[:] = np.bincount((block + offsets[:r]).ravel(), minlength=r * n)
        yield first, counts


def member_mean_replicates(
    x: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    strata: np.ndarray | None = None,
    chunk: int = 0,
    max_elements: int = 10_000_000,
) -> np.ndarray:
    """Means over resampled examples of every row of ``x`` ``(R, n)`` -> ``(B, R)``.

    Rows are typically the members (or members x metrics stacked); every row of
    a replicate uses the same example resample. NaN entries propagate.
    """
    x = np.asarray(x, dtype=np.float64)
    r, n = x.shape
    out = np.empty((n_boot, r))
    if n == 0:
        out.fill(np.nan)
        return out
    step = chunk or max(1, min(500, max_elements // n))
    xt = np.ascontiguousarray(x.T)
    pos = 0
    for idx in example_index_chunks(n, n_boot, rng, strata, step):
        for first, w in count_blocks(idx, n):
            out[pos + first : pos + first + w.shape[0]] = (w @ xt) / n
        pos += idx.shape[0]
    return out


def member_indices(m: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(B, M)`` member indices resampled with replacement."""
    return rng.integers(0, m, size=(n_boot, m))


def replicate_mean_sd(a: np.ndarray, idx: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD (ddof=1) over (resampled) members of each replicate row of ``a`` ``(B, M)``."""
    v = a if idx is None else np.take_along_axis(a, idx, axis=1)
    sd = np.std(v, axis=1, ddof=1) if v.shape[1] > 1 else np.full(v.shape[0], np.nan)
    return v.mean(axis=1), sd


def percentile_ci(reps: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the finite replicates (NaN, NaN when there are none)."""
    r = np.asarray(reps, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(r, [a, 1.0 - a])
    return float(lo), float(hi)


def one_sided_p(reps: np.ndarray) -> float:
    """``(1 + #{replicates <= 0}) / (1 + B)`` over the finite replicates: H0 "the difference is <= 0"."""
    r = np.asarray(reps, dtype=np.float64)
    r = r[np.isfinite(r)]
    return float((1.0 + np.count_nonzero(r <= 0)) / (1.0 + r.size)) if r.size else float("nan")


def two_sided_p(reps: np.ndarray) -> float:
    """``min(1, 2 (1 + min(#{<= 0}, #{>= 0})) / (1 + B))``: H0 "the difference is 0"."""
    r = np.asarray(reps, dtype=np.float64)
    r = r[np.isfinite(r)]
    if not r.size:
        return float("nan")
    tail = min(np.count_nonzero(r <= 0), np.count_nonzero(r >= 0))
    return float(min(1.0, 2.0 * (1.0 + tail) / (1.0 + r.size)))


def multi_bootstrap(
    x: np.ndarray,
    n_boot: int,
    rng_members: np.random.Generator,
    rng_examples: np.random.Generator,
    strata: np.ndarray | None = None,
    level: float = 0.95,
) -> BootstrapSummary:
    """Multi-bootstrap CIs of the mean and the SD over members of an additive metric.

    ``x``: ``(M, n)`` per-example values (row m = member m).
    """
    a = member_mean_replicates(x, n_boot, rng_examples, strata)
    idx = member_indices(x.shape[0], n_boot, rng_members)
    mean, sd = replicate_mean_sd(a, idx)
    return BootstrapSummary(percentile_ci(mean, level), percentile_ci(sd, level), mean, sd)


def bootstrap_differences(
    xs_a: list[np.ndarray],
    xs_b: list[np.ndarray],
    n_boot: int,
    rng: np.random.Generator,
    paired_examples: bool = True,
    paired_members: bool = True,
    strata: np.ndarray | None = None,
    level: float = 0.95,
    statistics: tuple[str, ...] = ("mean", "sd"),
) -> list[dict[str, tuple[float, tuple[float, float], float]]]:
    """Multi-bootstrap of ``stat(A) - stat(B)`` for several metrics at once; ``stat``: ``"mean"``/``"sd"`` over members.

    ``xs_a[k]``, ``xs_b[k]``: ``(M, n)`` per-example values of metric k on the
    two sides. One resample of the examples and members serves every metric
    and statistic (a replicate is one draw of the whole comparison).

    - Two tests, same ensemble: ``paired_members=True`` (a replicate resamples
      members once for both); ``paired_examples=True`` when both tests hold the
      same examples in the same order (same example indices), else each test's
      examples are resampled independently.
    - Two ensembles on one test: ``paired_members=False`` (members resampled
      independently), ``paired_examples=True``.

    Returns, per metric, ``{statistic: (observed difference, percentile CI, two-sided p)}``
    with the p of :func:`two_sided_p`.
    """
    xs_a = [np.asarray(x, dtype=np.float64) for x in xs_a]
    xs_b = [np.asarray(x, dtype=np.float64) for x in xs_b]
    if not xs_a:
        return []
    m_a, m_b = xs_a[0].shape[0], xs_b[0].shape[0]
    if paired_examples and xs_a[0].shape[1] != xs_b[0].shape[1]:
        raise ValueError("paired examples need the same number of examples")
    if paired_members and m_a != m_b:
        raise ValueError("paired members need the same number of members")
    k = len(xs_a)
    if paired_examples:
        both = member_mean_replicates(np.vstack(xs_a + xs_b), n_boot, rng, strata)
        reps_a, reps_b = both[:, : k * m_a], both[:, k * m_a :]
    else:
        reps_a = member_mean_replicates(np.vstack(xs_a), n_boot, rng, strata)
        reps_b = member_mean_replicates(np.vstack(xs_b), n_boot, rng, None)
    ia = member_indices(m_a, n_boot, rng)
    ib = ia if paired_members else member_indices(m_b, n_boot, rng)
    out = []
    for j in range(k):
        ma, sa = replicate_mean_sd(reps_a[:, j * m_a : (j + 1) * m_a], ia)
        mb, sb = replicate_mean_sd(reps_b[:, j * m_b : (j + 1) * m_b], ib)
        oa = replicate_mean_sd(xs_a[j].mean(axis=1)[None, :], None)
        ob = replicate_mean_sd(xs_b[j].mean(axis=1)[None, :], None)
        res = {}
        for stat in statistics:
            i = 0 if stat == "mean" else 1
            diff = (ma, sa)[i] - (mb, sb)[i]
            res[stat] = (float(oa[i][0] - ob[i][0]), percentile_ci(diff, level), two_sided_p(diff))
        out.append(res)
    return out


def bootstrap_difference(
    x_a: np.ndarray,
    x_b: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    statistic: str = "mean",
    paired_examples: bool = True,
    paired_members: bool = True,
    strata: np.ndarray | None = None,
    level: float = 0.95,
) -> tuple[float, tuple[float, float], float]:
    """One metric and statistic of :func:`bootstrap_differences`: (observed difference, CI, two-sided p)."""
    return bootstrap_differences(
        [x_a], [x_b], n_boot, rng, paired_examples, paired_members, strata, level, (statistic,)
    )[0][statistic]


def bh(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN entries stay NaN and are not counted)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = bh_adjusted(p[ok])
    return out
