"""Structure of disagreement: PCA of member deviations (docs/methods.md §7; UP §7.1, Fig. 9).

The input is a continuous per-example output of every member, ``(M, n)``:
true-class probability (classification) or score / prediction (regression).
Deviations from the ensemble mean, ``D[i, m] = f_m(x_i) - mean_m' f_m'(x_i)``,
form an example x member matrix; after centring its member columns (as
scikit-learn's PCA does), its SVD gives explained variance ratios, per-example
scores ``U S`` and per-member loadings ``V``. Signs follow scikit-learn
(largest-|.| loading of each component positive), so results are
deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = ["PCAResult", "deviation_pca", "attribute_spearman", "extreme_examples"]


@dataclass(frozen=True)
class PCAResult:
    explained_variance: np.ndarray  # (c,)
    explained_variance_ratio: np.ndarray  # (c,)
    scores: np.ndarray  # (n, c)
    loadings: np.ndarray  # (M, c)


def deviation_pca(outputs: np.ndarray, n_components: int = 3) -> PCAResult:
    """PCA of the example x member matrix of deviations from the ensemble mean.

    ``outputs``: ``(M, n)``. At most ``min(n, M) `` components are returned
    (the deviation matrix has rank at most M - 1, so the last ones may carry 0
    variance). Ratios are relative to the total variance of the deviations.
    """
    f = np.asarray(outputs, dtype=np.float64)
    m, n = f.shape
    dev = (f - f.mean(axis=0, keepdims=True)).T  # (n, M)
    dev = dev - dev.mean(axis=0, keepdims=True)
    c = max(0, min(n_components, n, m))
    if n < 2 or m < 2 or c == 0:
        return PCAResult(np.zeros(0), np.zeros(0), np.zeros((n, 0)), np.zeros((m, 0)))
    u, s, vt = np.linalg.svd(dev, full_matrices=False)
    # scikit-learn's svd_flip(u_based_decision=False): largest-|.| entry of each row of vt positive
    idx = np.argmax(np.abs(vt), axis=1)
    signs = np.sign(vt[np.arange(vt.shape[0]), idx])
    signs[signs == 0] = 1.0
    u, vt = u * signs[None, :], vt * signs[:, None]
    var = s**2 / (n - 1)
    total = var.sum()
    ratio = var / total if total > 0 else np.full(var.shape, np.nan)
    return PCAResult(var[:c], ratio[:c], u[:, :c] * s[None, :c], vt[:c].T)


def attribute_spearman(scores: np.ndarray, attribute: np.ndarray) -> np.ndarray:
    """Spearman rho of each component's scores ``(n, c)`` with a numeric attribute ``(n,)``.

    Examples with a NaN attribute are dropped; NaN when fewer than three remain
    or either side is constant.
    """
    a = np.asarray(attribute, dtype=np.float64)
    sc = np.asarray(scores, dtype=np.float64)
    keep = ~np.isnan(a)
    out = np.full(sc.shape[1], np.nan)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0:
        return out
    for j in range(sc.shape[1]):
        x = sc[keep, j]
        if np.ptp(x) > 0:
            out[j] = sps.spearmanr(x, a[keep]).statistic
    return out


def extreme_examples(
    scores: np.ndarray, ids: np.ndarray, k: int = 10, component: int = 0
) -> dict[str, np.ndarray]:
    """Ids of the ``k`` examples with the lowest and the highest scores on a component."""
    s = np.asarray(scores)[:, component]
    order = np.argsort(s, kind="stable")
    return {"low": np.asarray(ids)[order[:k]], "high": np.asarray(ids)[order[::-1][:k]]}
