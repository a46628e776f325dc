"""Excess variation over iid: the member x test interaction test behind ``underspecified`` (docs/methods.md §14).

Question: do the members differ on this test *more than their iid
differences predict*? With û (iid) and v̂ (test) the members' values of one
metric, centered over members, the null hypothesis is

    H0: v = β u for some 0 <= β <= β_max     (population values, centered),

i.e. the test's member differences are a non-negative multiple of the iid
ones. It contains the pure null (u = v = 0) and *carry-over*: members that are
better everywhere by the same logit offset keep their iid order, and a harder
or easier test only rescales how much the offset moves the metric (β > 1 on a
harder test for accuracy; to first order in the offsets). The amplification
is bounded (``max_carry_over_slope``, default 3): without a bound, a test's
member differences could always be "explained" as a huge multiple of iid
differences too small to see, and the test would have no power exactly where
underspecification is classic -- members that tie on iid. (For accuracy a
logit offset moves the metric by E[p(1 - p)] <= 1/4, three times its value on
an iid test at about 90% accuracy.) Under the alternative the test has member
differences of its own (a new order, or differences absent on iid).

Statistic: ``T = min_{0 <= β <= β_max} ||v̂_c - β û_c||²``, the residual sum of
squares of the test values regressed through the origin on the iid values
(β̂ its minimizer, 0 when the slope is negative: reversed order counts in
full).

Null distribution: a parametric bootstrap of the fitted null. The sampling
errors (d, e) of (û, v̂) are Gaussian with the joint covariance Σ of the
members' sampling errors on both tests (:mod:`.noise`; the cross block is
non-zero when the tests share examples). The null model's truth is estimated
without the noise the observed values carry: ``ũ = k û_c`` with
``k = sqrt(max(0, 1 - tr(C Σ_uu C) / ||û_c||²))`` (the iid member differences
shrunk to their systematic size) and the errors-in-variables slope
``β̃ = (<v̂_c, û_c> - tr(C Σ_uv C)) / (||û_c||² - tr(C Σ_uu C))``, clipped to
``[0, min(β_max, sqrt(systematic_var(v) / systematic_var(u)))]``. Each draw builds null
data ``u° = ũ + d``, ``v° = β̃ ũ + e`` and recomputes ``T°`` *including the
slope fit*, exactly as for the observed data. One-sided Monte Carlo
``p = (1 + #{T° >= T}) / (1 + D)``, never 0.

Size of the effect: ``excess_sd = sqrt(max(0, T - mean(T°)) / (M - 1))``, the
between-member sd of the test values that iid does not predict, beyond noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uspec_audit.stats.noise import centered_trace

__all__ = ["ExcessResult", "excess_test", "fit_slope"]

_TOL = 1e-12


@dataclass(frozen=True)
class ExcessResult:
    statistic: float  # T, residual sum of squares over members
    p_value: float
    slope: float  # β̂ >= 0
    excess_sd: float
    null_mean: float  # mean of T° over the draws
    n_members: int
    n_draws: int


def _nan_result(m: int, n_draws: int) -> ExcessResult:
    nan = float("nan")
    return ExcessResult(nan, nan, nan, nan, nan, m, n_draws)


def fit_slope(u: np.ndarray, v: np.ndarray, beta_max: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise ``β = clip(<v_c, u_c> / <u_c, u_c>, 0, beta_max)`` and the residual sum of squares.

    ``u`` and ``v`` ``(D, M)`` are centered over members (the last axis) here.
    A row with ``u_c = 0`` has slope 0.
    """
    uc = u - u.mean(axis=-1, keepdims=True)
    vc = v - v.mean(axis=-1, keepdims=True)
    uu = (uc * uc).sum(axis=-1)
    uv = (uc * vc).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(uu > 0, np.clip(uv / np.where(uu > 0, uu, 1.0), 0.0, beta_max), 0.0)
    resid = vc - beta[..., None] * uc
    return beta, (resid * resid).sum(axis=-1)


def _null_truth(
    u: np.ndarray, v: np.ndarray, s_uu: np.ndarray, s_vv: np.ndarray, s_uv: np.ndarray, beta_max: float
) -> tuple[np.ndarray, float]:
    """The null model's noise-free iid values ``ũ`` (centered) and slope ``β̃`` (module docstring)."""
    m = u.size
    uc, vc = u - u.mean(), v - v.mean()
    ss_u, ss_v = float(uc @ uc), float(vc @ vc)
    sys_u = ss_u - centered_trace(s_uu)
    sys_v = max(0.0, ss_v - centered_trace(s_vv))
    if ss_u <= 0 or sys_u <= 0:
        return np.zeros(m), 0.0
    k = np.sqrt(sys_u / ss_u)
    cross = float(np.trace(s_uv) - s_uv.sum() / m)
    beta = max(0.0, (float(uc @ vc) - cross) / sys_u)
    return k * uc, min(beta, float(np.sqrt(sys_v / sys_u)), beta_max)


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """A factor L with L L' = cov (negative eigenvalues from rounding set to 0)."""
    w, q = np.linalg.eigh((cov + cov.T) / 2.0)
    return q * np.sqrt(np.clip(w, 0.0, None))[None, :]


def excess_test(
    u: np.ndarray,
    v: np.ndarray,
    cov_uu: np.ndarray,
    cov_vv: np.ndarray,
    cov_uv: np.ndarray | None,
    n_draws: int,
    rng: np.random.Generator,
    chunk: int = 20_000,
    beta_max: float = 3.0,
) -> ExcessResult:
    """The excess-variation test of the module docstring.

    ``u``, ``v``: ``(M,)`` member values on iid and on the test (same member
    order); ``cov_uu``, ``cov_vv``: ``(M, M)`` covariances of their sampling
    errors; ``cov_uv``: ``(M, M)`` cross-covariance ``Cov(û_m, v̂_m')`` (None or
    zeros for tests with disjoint examples); ``beta_max``: the largest
    carry-over amplification allowed. Members with a NaN value on
    either side are dropped; NaN results with fewer than 3 members, a
    non-finite covariance or ``n_draws = 0``.
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    keep = np.isfinite(u) & np.isfinite(v)
    m = int(keep.sum())
    if m < 3 or n_draws <= 0:
        return _nan_result(m, n_draws)
    idx = np.flatnonzero(keep)
    s_uu = np.asarray(cov_uu, dtype=np.float64)[np.ix_(idx, idx)]
    s_vv = np.asarray(cov_vv, dtype=np.float64)[np.ix_(idx, idx)]
    s_uv = np.zeros((m, m)) if cov_uv is None else np.asarray(cov_uv, dtype=np.float64)[np.ix_(idx, idx)]
    joint = np.block([[s_uu, s_uv], [s_uv.T, s_vv]])
    if not np.isfinite(joint).all():
        return _nan_result(m, n_draws)
    u, v = u[idx], v[idx]
    beta, t_rows = fit_slope(u[None, :], v[None, :], beta_max)
    beta_hat, t_obs = float(beta[0]), float(t_rows[0])
    u_true, beta_true = _null_truth(u, v, s_uu, s_vv, s_uv, beta_max)
    factor = _sqrt_psd(joint)
    center = np.eye(m) - 1.0 / m
    fac_u = center @ factor[:m]  # centered errors of u and v as linear maps of standard normals
    fac_v = center @ factor[m:]
    thr = t_obs - _TOL * max(abs(t_obs), 1e-300)
    count, total = 0, 0.0
    for start in range(0, n_draws, chunk):
        b = min(chunk, n_draws - start)
        z = rng.standard_normal((2 * m, b))  # draws in columns: (M, 2M) @ (2M, b) is BLAS's fast shape
        uc = u_true[:, None] + fac_u @ z
        vc = beta_true * u_true[:, None] + fac_v @ z
        uu = np.einsum("ij,ij->j", uc, uc)
        uv = np.einsum("ij,ij->j", uc, vc)
        vv = np.einsum("ij,ij->j", vc, vc)
        with np.errstate(divide="ignore", invalid="ignore"):
            b_null = np.where(uu > 0, np.clip(uv / np.where(uu > 0, uu, 1.0), 0.0, beta_max), 0.0)
        t_null = vv - 2.0 * b_null * uv + b_null * b_null * uu
        count += int(np.count_nonzero(t_null >= thr))
        total += float(t_null.sum())
    null_mean = total / n_draws
    excess = float(np.sqrt(max(0.0, t_obs - null_mean) / (m - 1.0)))
    return ExcessResult(t_obs, (1.0 + count) / (1.0 + n_draws), beta_hat, excess, null_mean, m, n_draws)
