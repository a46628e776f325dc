"""Is the variation between members systematic? Permutation tests (docs/methods.md §4; UP §5.2, §6.2).

**Systematic variation** (errors redistributed between predictors, ObjectNet):
``C`` is the ``(M, n)`` correctness (or per-example loss) matrix. Under the
null, for every example independently, its column is permuted across members.
Statistic T = variance over members of the row means. One-sided
``p = (1 + #{T_null >= T_obs}) / (1 + P)``.

For a 0/1 matrix the null is sampled *exactly* without permuting anything:
permuting a column with k ones puts its ones on a uniformly random k-subset of
the members, and only the row sums matter. Going through the members one by
one, a column that still needs r of its ones among the ``rem`` members not yet
visited places one on the current member with probability r / rem,
independently of every other column. So the whole null only needs the
histogram h_r (columns still needing r ones): per member, draw
``b_r ~ Binomial(h_r, r / rem)`` for every r, the member's row sum is
``sum_r b_r`` and ``h_{r-1} += b_r``, ``h_r -= b_r``. That is ``M (M + 1)``
binomial draws per permutation, independent of n (10,000 permutations of a
50 x 50,000 matrix take about a second). Real-valued matrices fall back to
explicit column permutation (:meth:`numpy.random.Generator.permuted`),
chunked so memory stays bounded.

**Strata shuffle** (skin types): for a stratum of n_a of the n examples, the
null statistic is the variance over members of the metric on a uniformly
random subset of n_a examples (the same subset for every member: shuffled
attribute labels). Columns on which every member scores the same add the same
amount to every member and cannot change the variance, so only the
``n_inf`` informative columns are drawn: their number in the subset is
hypergeometric, then a random subset of them is drawn (or of its complement,
whichever is smaller).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "PermutationResult",
    "systematic_variation",
    "systematic_variation_null_binary",
    "strata_shuffle",
]

_TOL = 1e-12


@dataclass(frozen=True)
class PermutationResult:
    statistic: float
    p_value: float
    n_permutations: int
    null_mean: float


def _row_var_int(sums: np.ndarray) -> np.ndarray:
    """M * sum s^2 - (sum s)^2 for integer row sums: exact, monotone in the variance."""
    s = sums.astype(np.int64)
    m = s.shape[-1]
    return m * (s * s).sum(axis=-1) - s.sum(axis=-1) ** 2


def _is_binary(c: np.ndarray) -> bool:
    if c.dtype == bool:
        return True
    return bool(np.isin(c, (0, 1)).all())


def systematic_variation_null_binary(
    col_sums: np.ndarray, m: int, n_perm: int, rng: np.random.Generator, chunk: int = 4096
) -> np.ndarray:
    """Row sums ``(n_perm, M)`` of column-permuted 0/1 matrices with the given column sums.

    Exact sampler (see module docstring): the joint distribution of the row sums
    is that of permuting every column independently and uniformly.
    """
    k = np.asarray(col_sums, dtype=np.int64)
    if k.size and (k.min() < 0 or k.max() > m):
        raise ValueError("column sums must lie in [0, M]")
    h0 = np.bincount(k, minlength=m + 1)
    full = int(h0[m])  # columns of ones land on every member
    h0 = h0.copy()
    h0[m] = 0
    h0[0] = 0
    need = np.arange(m + 1, dtype=np.float64)
    out = np.empty((n_perm, m), dtype=np.int64)
    for start in range(0, n_perm, chunk):
        b = min(chunk, n_perm - start)
        h = np.broadcast_to(h0, (b, m + 1)).copy()
        for row in range(m):
            rem = m - row
            p = np.minimum(need / rem, 1.0)
            take = rng.binomial(h, p)
            out[start : start + b, row] = take.sum(axis=1) + full
            h -= take
            h[:, :-1] += take[:, 1:]
    return out


def systematic_variation(
    c: np.ndarray, n_perm: int, rng: np.random.Generator, chunk: int = 0, max_elements: int = 20_000_000
) -> PermutationResult:
    """Permutation test of systematic differences between members on one test.

    ``c``: ``(M, n)`` correctness (bool / 0-1) or per-example loss matrix.
    Returns T_obs = var_m(row means) (ddof=1) and the one-sided p-value. NaN
    p-value for M < 2, n = 0 or ``n_perm = 0``. A matrix whose columns are all
    constant (identical members) gives T_obs = 0 and p = 1.
    """
    c = np.asarray(c)
    m, n = c.shape
    nan = float("nan")
    if m < 2 or n == 0:
        return PermutationResult(nan, nan, n_perm, nan)
    if _is_binary(c):
        ci = c.astype(np.int64)
        sums = ci.sum(axis=1)
        t_obs = float(np.var(sums / n, ddof=1))
        if n_perm <= 0:
            return PermutationResult(t_obs, nan, 0, nan)
        null = systematic_variation_null_binary(ci.sum(axis=0), m, n_perm, rng, chunk=chunk or 4096)
        q_obs = _row_var_int(sums)
        q_null = _row_var_int(null)
        count = int(np.count_nonzero(q_null >= q_obs))
        null_mean = float(np.var(null / n, axis=1, ddof=1).mean())
        return PermutationResult(t_obs, (1.0 + count) / (1.0 + n_perm), n_perm, null_mean)
    x = c.astype(np.float64)
    t_obs = float(np.var(x.mean(axis=1), ddof=1))
    if n_perm <= 0:
        return PermutationResult(t_obs, nan, 0, nan)
    # only non-constant columns can move the statistic; constant ones add the same to every row
    inf = np.ptp(x, axis=0) > 0
    base = x[:, ~inf].sum(axis=1)
    xi = np.ascontiguousarray(x[:, inf])
    k = xi.shape[1]
    step = chunk or max(1, max_elements // max(m * max(k, 1), 1))
    count = 0
    acc = 0.0
    thr = t_obs - _TOL * max(abs(t_obs), 1e-300)
    for start in range(0, n_perm, step):
        b = min(step, n_perm - start)
        tiled = np.broadcast_to(xi[:, None, :], (m, b, k)).reshape(m, b * k)
        perm = rng.permuted(tiled, axis=0).reshape(m, b, k)
        means = (perm.sum(axis=2) + base[:, None]) / n
        tn = np.var(means, axis=0, ddof=1)
        count += int(np.count_nonzero(tn >= thr))
        acc += float(tn.sum())
    return PermutationResult(t_obs, (1.0 + count) / (1.0 + n_perm), n_perm, acc / n_perm)


def _subset_indicators(
    k: int,
    sizes: np.ndarray,
    rng: np.random.Generator,
    dtype: type,
    buffers: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``(P, k)`` 0/1 rows, row p the indicator of a uniformly random ``sizes[p]``-subset of ``range(k)``.

    Walks an iid uniform sequence of indices and keeps its first ``sizes[p]``
    distinct values (a uniform subset, by symmetry). Done in rounds: a row that
    still needs ``r`` values takes the next ``r`` draws, which add at most ``r``
    new values, so no row overshoots; duplicates just cost another round.
    ``buffers``: reusable ``(ind, owner)`` arrays of at least ``P * k`` entries
    (``ind`` all zero), which avoids first-touch page faults chunk after chunk.
    """
    p_total = sizes.size
    if buffers is None:
        ind: np.ndarray = np.zeros(p_total * k, dtype=dtype)
        owner = np.empty(p_total * k, dtype=np.int32)  # scratch: which draw of a round wrote a cell last
    else:
        ind, owner = buffers[0][: p_total * k], buffers[1][: p_total * k]
    count = np.zeros(p_total, dtype=np.int64)
    active = np.flatnonzero(sizes > 0)
    while active.size:
        need = sizes[active] - count[active]
        width = int(need.max())
        draws = rng.integers(0, k, size=(active.size, width))
        valid = np.arange(width)[None, :] < need[:, None]
        row = np.broadcast_to(active[:, None], draws.shape)[valid]
        flat = row * k + draws[valid]
        fresh = ind[flat] == 0
        order = np.arange(flat.size, dtype=np.int32)
        owner[flat] = order
        first = owner[flat] == order  # one draw per distinct cell of this round
        ind[flat] = 1
        count += np.bincount(row[fresh & first], minlength=p_total)
        active = active[count[active] < sizes[active]]
    return ind.reshape(p_total, k)


def _random_subset_sums(
    xi: np.ndarray, sizes: np.ndarray, rng: np.random.Generator, max_elements: int
) -> np.ndarray:
    """For each size s_p, the row sums of ``xi`` ``(M, k)`` over a uniformly random s_p-subset of its columns.

    Returns ``(P, M)``: subset indicators times the data, in chunks of rows so
    that an indicator block stays under ``max_elements`` entries. 0/1 data
    use float32 (exact for sums below 2**24).
    """
    m, k = xi.shape
    p_total = sizes.size
    out = np.zeros((p_total, m), dtype=np.float64)
    if k == 0 or p_total == 0 or int(sizes.max()) == 0:
        return out
    dtype = np.float32 if _is_binary(xi) and k < 2**24 else np.float64
    xt = np.ascontiguousarray(xi.T, dtype=dtype)  # (k, M)
    step = max(1, min(p_total, max_elements // k))
    buffers = (np.zeros(step * k, dtype=dtype), np.empty(step * k, dtype=np.int32))
    for start in range(0, p_total, step):
        s = sizes[start : start + step]
        out[start : start + s.size] = _subset_indicators(k, s, rng, dtype, buffers) @ xt
        buffers[0].fill(0)
    return out


def strata_shuffle(
    c: np.ndarray,
    in_stratum: np.ndarray,
    n_perm: int,
    rng: np.random.Generator,
    max_elements: int = 3_000_000,
) -> PermutationResult:
    """Permutation test: is the spread across members on a stratum beyond small-sample noise?

    ``c``: ``(M, n)`` correctness / per-example metric on the *whole* test;
    ``in_stratum``: ``(n,)`` bool mask of the stratum (n_a examples). T_obs =
    var over members (ddof=1) of the member means on the stratum; the null draws
    uniformly random n_a-subsets of the n examples. NaN when M < 2, n_a = 0 or
    ``n_perm = 0``; p = 1 when n_a = n (the only subset is the test itself).
    """
    c = np.asarray(c)
    mask = np.asarray(in_stratum, dtype=bool)
    m, n = c.shape
    n_a = int(mask.sum())
    nan = float("nan")
    if m < 2 or n_a == 0:
        return PermutationResult(nan, nan, n_perm, nan)
    x = c.astype(np.float64)
    sums = x[:, mask].sum(axis=1)
    t_obs = float(np.var(sums / n_a, ddof=1))
    if n_perm <= 0:
        return PermutationResult(t_obs, nan, 0, nan)
    inf = np.ptp(x, axis=0) > 0
    n_inf = int(inf.sum())
    xi = x[:, inf]
    total = xi.sum(axis=1)
    # number of informative examples in each random subset of size n_a
    h = rng.hypergeometric(n_inf, n - n_inf, n_a, size=n_perm) if n_inf < n else np.full(n_perm, n_a)
    use_complement = h > n_inf // 2
    sizes = np.where(use_complement, n_inf - h, h)
    part = _random_subset_sums(xi, sizes, rng, max_elements)
    inf_sums = np.where(use_complement[:, None], total[None, :] - part, part)
    binary = _is_binary(c)
    obs_inf = xi[:, mask[inf]].sum(axis=1)
    if binary:
        q_obs = _row_var_int(np.rint(obs_inf).astype(np.int64))
        q_null = _row_var_int(np.rint(inf_sums).astype(np.int64))
        count = int(np.count_nonzero(q_null >= q_obs))
    else:
        t_inf = np.var(obs_inf, ddof=1)
        tn = np.var(inf_sums, axis=1, ddof=1)
        count = int(np.count_nonzero(tn >= t_inf - _TOL * max(abs(t_inf), 1e-300)))
    null_mean = float(np.var(inf_sums / n_a, axis=1, ddof=1).mean())
    return PermutationResult(t_obs, (1.0 + count) / (1.0 + n_perm), n_perm, null_mean)
