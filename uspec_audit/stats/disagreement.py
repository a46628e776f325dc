"""Disagreement and predictive multiplicity (docs/methods.md §3; UP Table 2, §3.2; Marx et al. 2019).

Inputs are ``(M, n)`` matrices: predicted labels (classification) or
predictions (regression), row ``m`` = member, column ``i`` = example.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "agreement_counts",
    "pairwise_disagreement",
    "disagreement_matrix",
    "sensitivity",
    "sensitivity_ratio",
    "ambiguity",
    "discrepancy",
    "vote_entropy",
]


def agreement_counts(labels: np.ndarray) -> np.ndarray:
    """``(M, n)``: for member m and example i, how many members (m included) predict m's label on i.

    O(M^2 n) time and O(M n) memory, independent of the number of classes.
    """
    lab = np.asarray(labels)
    m, n = lab.shape
    out = np.empty((m, n), dtype=np.int64)
    for a in range(m):
        out[a] = (lab == lab[a][None, :]).sum(axis=0)
    return out


def pairwise_disagreement(labels: np.ndarray) -> float:
    """Mean over member pairs m < m' of the share of examples whose labels differ.

    Per example, the number of agreeing ordered pairs is sum_m (a_mi - 1) with
    a_mi the :func:`agreement_counts`. NaN for M < 2 or n = 0.
    """
    lab = np.asarray(labels)
    m, n = lab.shape
    if m < 2 or n == 0:
        return float("nan")
    agree = (agreement_counts(lab) - 1).sum(axis=0).astype(np.float64)
    return float(((m * (m - 1.0) - agree) / (m * (m - 1.0))).mean())


def disagreement_matrix(labels: np.ndarray) -> np.ndarray:
    """``(M, M)`` share of examples on which members m and m' predict different labels."""
    lab = np.asarray(labels)
    m, n = lab.shape
    out = np.zeros((m, m))
    for a in range(m):
        out[a] = (lab != lab[a][None, :]).mean(axis=1) if n else np.nan
    return out


def sensitivity(predictions: np.ndarray) -> float:
    """Mean over member pairs of E_i[(f_m(x_i) - f_m'(x_i))^2] (UP App. E, Eq. 2).

    Uses sum_{m<m'} (f_m - f_m')^2 = M sum_m (f_m - fbar)^2, so S = 2 E_i[var_m f]
    with the sample variance (ddof=1). NaN for M < 2.
    """
    f = np.asarray(predictions, dtype=np.float64)
    if f.shape[0] < 2 or f.shape[1] == 0:
        return float("nan")
    return float(2.0 * np.var(f, axis=0, ddof=1).mean())


def sensitivity_ratio(predictions: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """(S, R, S/R) with R the mean member risk E_i[(y_i - f_m(x_i))^2] averaged over members.

    S/R = 2 means two members' error functions are orthogonal (UP App. E.4).
    """
    f = np.asarray(predictions, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)[None, :]
    s = sensitivity(f)
    r = float(((f - y) ** 2).mean()) if f.size else float("nan")
    ratio = s / r if np.isfinite(s) and r > 0 else float("nan")
    return s, r, ratio


def ambiguity(labels: np.ndarray, baseline: int) -> float:
    """Share of examples on which at least one member's label differs from the baseline member's."""
    lab = np.asarray(labels)
    if lab.shape[0] < 2 or lab.shape[1] == 0:
        return float("nan")
    return float((lab != lab[baseline][None, :]).any(axis=0).mean())


def discrepancy(labels: np.ndarray, baseline: int) -> float:
    """Largest share of examples on which a single member differs from the baseline member."""
    lab = np.asarray(labels)
    if lab.shape[0] < 2 or lab.shape[1] == 0:
        return float("nan")
    return float((lab != lab[baseline][None, :]).mean(axis=1).max())


def vote_entropy(labels: np.ndarray) -> np.ndarray:
    """Per-example entropy (nats) of the distribution of predicted labels over members, ``(n,)``.

    With c_k the number of members voting k, -sum_k (c_k/M) log(c_k/M) equals
    -mean_m log(a_m/M) (a_m = members agreeing with m). 0 when all members
    agree; at most log(min(M, L)).
    """
    lab = np.asarray(labels)
    m = lab.shape[0]
    if lab.shape[1] == 0:
        return np.zeros(0)
    return -np.log(agreement_counts(lab) / m).mean(axis=0)
