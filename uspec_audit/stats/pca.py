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

from uspec_audit.stats.distributions import spearman

__all__ = [
    "PCAResult",
    "deviation_pca",
    "attribute_spearman",
    "attribute_eta",
    "extreme_examples",
    "MAX_CATEGORIES",
]

# A categorical attribute with more levels than this is an identifier or near one (a lesion id, a file name):
# its correlation ratio would approach 1 from the level count alone, so it gets none.
MAX_CATEGORIES = 20


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
            out[j] = spearman(x, a[keep])
    return out


def attribute_eta(scores: np.ndarray, attribute: np.ndarray) -> np.ndarray:
    """Correlation ratio eta of each component's scores ``(n, c)`` with a categorical attribute ``(n,)``.

    ``eta**2`` is the share of a component's score variance that lies between the attribute's
    levels (one-way ANOVA's between-group sum of squares over the total); eta is in [0, 1] and
    needs no order of the levels (a camera, a skin type written as text). Missing values (None,
    NaN, empty text) are dropped. NaN when fewer than two levels remain, when there are more
    than ``MAX_CATEGORIES`` levels, when a level count leaves fewer than five examples per
    level on average (eta then mostly measures the level count), or when a score is constant.
    """
    sc = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(attribute, dtype=object)
    keep = np.array([v is not None and v == v and str(v) != "" for v in labels], dtype=bool)
    out = np.full(sc.shape[1], np.nan)
    levels, codes = np.unique(labels[keep].astype(str), return_inverse=True)
    k, n = levels.size, int(keep.sum())
    if k < 2 or k > MAX_CATEGORIES or n < 5 * k:
        return out
    counts = np.bincount(codes, minlength=k).astype(np.float64)
    for j in range(sc.shape[1]):
        x = sc[keep, j]
        total = float(((x - x.mean()) ** 2).sum())
        if total <= 0:
            continue
        group_means = np.bincount(codes, weights=x, minlength=k) / counts
        between = float((counts * (group_means - x.mean()) ** 2).sum())
        out[j] = np.sqrt(min(1.0, between / total))
    return out


def extreme_examples(
    scores: np.ndarray, ids: np.ndarray, k: int = 10, component: int = 0
) -> dict[str, np.ndarray]:
    """Ids of the ``k`` examples with the lowest and the highest scores on a component."""
    s = np.asarray(scores)[:, component]
    order = np.argsort(s, kind="stable")
    return {"low": np.asarray(ids)[order[:k]], "high": np.asarray(ids)[order[::-1][:k]]}
