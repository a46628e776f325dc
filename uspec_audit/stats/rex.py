"""Risk across domains: risk extrapolation criteria (docs/methods.md §12; Krueger, thesis ch. 5, Eqs. 5.6-5.8).

Domains e = 1..E are the strata of a stratified test or a set of shifted
tests; ``risks[m, e]`` is member m's risk on domain e (mean NLL by default,
error rate or MSE otherwise). Per member:

- V-REx statistic: ``Var_e(R_e)`` (population variance over the E domains, ddof=0);
- risk interpolation: ``RI = max_e R_e``;
- MM-REx(λ_min) = ``(1 - E λ_min) max_e R_e + λ_min sum_e R_e`` (λ_min <= 0;
  λ_min = 0 recovers RI).

:func:`select` says which member each criterion (and plain ERM, the sum of
risks) would pick: the one minimising it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RexResult", "rex_criteria", "select", "CRITERIA"]

CRITERIA = ("erm", "v_rex", "ri", "mm_rex")


@dataclass(frozen=True)
class RexResult:
    erm: np.ndarray  # (M,) sum_e R_e
    v_rex: np.ndarray  # (M,)
    ri: np.ndarray  # (M,)
    mm_rex: np.ndarray  # (M,)


def rex_criteria(risks: np.ndarray, lambda_min: float = -1.0) -> RexResult:
    """The REx criteria of every member from its per-domain risks ``(M, E)``.

    A member with a NaN risk on any domain gets NaN criteria.
    """
    if lambda_min > 0:
        raise ValueError("lambda_min must be <= 0")
    r = np.asarray(risks, dtype=np.float64)
    e = r.shape[1]
    total = r.sum(axis=1)
    worst = r.max(axis=1)
    return RexResult(total, r.var(axis=1), worst, (1.0 - e * lambda_min) * worst + lambda_min * total)


def select(result: RexResult) -> dict[str, int | None]:
    """Index of the member each criterion selects (smallest value; ties -> first; None if all NaN)."""
    out: dict[str, int | None] = {}
    for name in CRITERIA:
        v = getattr(result, name)
        out[name] = None if v.size == 0 or np.isnan(v).all() else int(np.nanargmin(v))
    return out
