"""Per row and metric: systematic spread, its ratio to iid, and the two verdict tests (docs/methods.md §14, §15).

For one unit (a test, variant or stratum) and one metric, from the metric's
own per-example predictions:

- the noise covariance Σ of the member values (:mod:`.noise`; analytic for
  additive metrics, else from bootstrap replicates of :mod:`.resample`), the
  noise sd and the systematic sd;
- multi-bootstrap replicates (members and examples resampled): CIs of the
  mean, the sd, the raw sd ratio and the noise-corrected sd ratio
  ``systematic_sd / max(ref_systematic_sd, ref_noise_sd)``;
- the excess test (:mod:`.excess`) against the reference (iid) values;
- the paired ``test - iid`` difference of the ensemble mean, one-sided in the
  bad direction (the ``degraded`` test).

Everything kept per unit is a handful of floats, so memory does not grow
with the number of strata beyond a few numbers each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from uspec_audit.stats import bootstrap as boot
from uspec_audit.stats import noise
from uspec_audit.stats.excess import ExcessResult, excess_test

__all__ = ["MetricStats", "RefMetric", "Replicates", "replicate_stats", "degraded_test", "corrected_ratio"]

NAN2 = (float("nan"), float("nan"))


@dataclass
class Replicates:
    """Summaries of one unit-metric's multi-bootstrap replicates (each ``(B,)``)."""

    mean: np.ndarray
    sd: np.ndarray
    systematic_sd: np.ndarray


@dataclass
class RefMetric:
    """What every other row of an ensemble needs from the reference (iid) row of one metric."""

    values: np.ndarray  # (M,) member values (metrics table)
    cov: np.ndarray  # (M, M) noise covariance of the member values
    noise_sd: float
    systematic_sd: float
    reps: Replicates | None = None
    rows: np.ndarray | None = None  # (M, n_ref) float32 per-example values (additive), for cross-covariances
    n: int = 0

    @property
    def scale(self) -> float:
        """Denominator of the corrected ratio and unit of the practical floor: max(systematic sd, noise sd)."""
        vals = [x for x in (self.systematic_sd, self.noise_sd) if np.isfinite(x)]
        return max(vals) if vals else float("nan")


@dataclass
class MetricStats:
    """The per-example-based statistics of one unit and metric (NaN where undefined; ``note`` says why)."""

    noise_sd: float = float("nan")
    systematic_sd: float = float("nan")
    corrected: tuple[float, float, float] = (float("nan"), float("nan"), float("nan"))
    boot_mean: tuple[float, float] = NAN2
    boot_sd: tuple[float, float] = NAN2
    boot_ratio: tuple[float, float] = NAN2
    excess: ExcessResult | None = None
    degraded: tuple[float, float, float, float] = (float("nan"),) * 4  # diff, ci_low, ci_high, p
    checked: bool = False  # member values recomputed from the predictions agree with metrics.parquet
    notes: list[str] = field(default_factory=list)


def replicate_stats(reps: np.ndarray, idx: np.ndarray, cov: np.ndarray) -> Replicates:
    """Mean, sd and systematic sd over resampled members of each replicate row.

    ``reps``: ``(B, M)`` member values on resampled examples; ``idx``: ``(B, M)``
    resampled member indices (the same rows for every unit of an ensemble, so
    members stay paired between rows); ``cov``: the unit's noise covariance.
    """
    mean, sd = boot.replicate_mean_sd(reps, idx)
    sys_var = sd * sd - noise.replicate_noise_var(cov, idx)
    return Replicates(mean, sd, np.sqrt(np.clip(sys_var, 0.0, None)))


def corrected_ratio(systematic_sd: float, ref: RefMetric) -> float:
    """``systematic_sd / max(ref_systematic_sd, ref_noise_sd)``; NaN when undefined, never inf."""
    scale = ref.scale
    if not (np.isfinite(systematic_sd) and np.isfinite(scale)) or scale <= 0:
        return float("nan")
    return float(systematic_sd / scale)


def ratio_ci(reps: Replicates, ref: RefMetric, level: float) -> tuple[float, float]:
    """Percentile CI of the corrected ratio, members paired with the reference replicates."""
    if ref.reps is None or ref.reps.systematic_sd.shape != reps.systematic_sd.shape:
        return NAN2
    denom = np.maximum(ref.reps.systematic_sd, ref.noise_sd if np.isfinite(ref.noise_sd) else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(denom > 0, reps.systematic_sd / denom, np.nan)
    return boot.percentile_ci(r, level)


def degraded_test(
    diff_reps: np.ndarray, observed: float, higher_is_better: bool, level: float, bias_correct: bool
) -> tuple[float, float, float, float]:
    """``(difference, ci_low, ci_high, p)`` of a ``test - iid`` mean difference from its replicates.

    One-sided in the bad direction: H0 "no worse than iid". ``p = (1 + #{replicates
    on the good side of 0 or at 0}) / (1 + B)``. With ``bias_correct`` (metrics
    whose sample value is biased by the number of examples, e.g. ECE) the
    replicates are first shifted by the bootstrap bias estimate
    ``mean(replicates) - observed``.
    """
    d = np.asarray(diff_reps, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0 or not np.isfinite(observed):
        return observed, float("nan"), float("nan"), float("nan")
    if bias_correct:
        d = d - (d.mean() - observed)
    tol = 1e-12 * max(1.0, float(np.abs(d).max()))  # a difference of 0 up to rounding counts as "not worse"
    good = np.count_nonzero(d >= -tol) if higher_is_better else np.count_nonzero(d <= tol)
    lo, hi = boot.percentile_ci(d, level)
    return float(observed), lo, hi, (1.0 + good) / (1.0 + d.size)


def excess_against_ref(
    values: np.ndarray,
    cov: np.ndarray,
    cross: np.ndarray | None,
    ref: RefMetric,
    n_draws: int,
    rng: np.random.Generator,
    beta_max: float,
) -> ExcessResult:
    """The excess test of a row's member values against the reference's (cross-covariance ``cross``)."""
    return excess_test(ref.values, values, ref.cov, cov, cross, n_draws, rng, beta_max=beta_max)
