"""Settings of the ensemble analysis (the ``[analysis]`` table of an audit file).

Every numeric field has a range: a value outside it is a validation error with
the file, line and key (through the audit loader), never a huge allocation
(``calibration_bins = 2e9`` or ``permutations = 1e12`` are refused here, not
discovered as an out-of-memory crash). The upper bounds are far above any
useful value; the statistics they size are documented in docs/methods.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AnalysisSettings"]


class AnalysisSettings(BaseModel):
    """Thresholds, resampling sizes and options of the ensemble statistics (docs/methods.md)."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(
        0.05,
        gt=0,
        lt=1,
        description=(
            "Significance level of the verdicts: 'underspecified' needs excess_p_adj < alpha, 'degraded' "
            "needs degraded_p_adj < alpha (docs/methods.md §14)."
        ),
    )
    min_members: int = Field(
        5,
        ge=3,
        le=100_000,
        description=(
            "Fewer members with a value than this gives the verdict 'insufficient' (statistics are still "
            "shown); at least 3, because the excess test fits a slope across members (docs/methods.md §14)."
        ),
    )
    min_excess_ratio: float = Field(
        0.5,
        ge=0,
        le=1000,
        description=(
            "Practical floor of 'underspecified': the excess sd (member variation the iid test does not "
            "predict, beyond sampling noise) must be at least this multiple of the iid systematic sd "
            "(or of the iid noise sd when that is larger) (docs/methods.md §14)."
        ),
    )
    max_carry_over_slope: float = Field(
        3.0,
        ge=1,
        le=1000,
        description=(
            "Largest amplification of the iid member differences that the excess test accepts as carry-over "
            "(a harder test moving the same members apart by more); beyond it the differences count as excess "
            "(docs/methods.md §14.1)."
        ),
    )
    sd_ratio_threshold: float = Field(
        2.0,
        gt=0,
        le=1e6,
        description=(
            "Display only: reports highlight a raw sd ratio at or above this. Verdicts do not use it "
            "(docs/methods.md §1, §14)."
        ),
    )
    permutations: int = Field(
        10000,
        ge=0,
        le=10_000_000,
        description=(
            "Monte Carlo draws of every permutation test (systematic variation, strata shuffle, Spearman) "
            "and of the excess test's null (0 = skip them)."
        ),
    )
    bootstrap: int = Field(
        2000,
        ge=0,
        le=1_000_000,
        description=(
            "Multi-bootstrap replicates (members and examples resampled) for CIs, the noise of non-additive "
            "metrics and the 'degraded' test (0 = skip them)."
        ),
    )
    member_bootstrap: int = Field(
        2000,
        ge=0,
        le=1_000_000,
        description="Bootstrap replicates over members for the correlation CIs (0 = skip).",
    )
    fdr: bool = Field(
        True,
        description=(
            "Benjamini-Hochberg control of the false discovery rate: the *_p_adj columns and the verdicts "
            "use adjusted p-values; off: the *_p_adj columns are null and verdicts use the raw p-values."
        ),
    )
    ci_level: float = Field(0.95, gt=0, lt=1, description="Coverage of every percentile confidence interval.")
    calibration_bins: int = Field(
        10,
        ge=1,
        le=1000,
        description="Equal-width confidence bins of the reliability curves in calibration.parquet.",
    )
    marginalization_subsets: int = Field(
        50,
        ge=1,
        le=100_000,
        description="Random member subsets per size k in the marginalization curve (App. A).",
    )
    rex_lambda_min: float = Field(-1.0, ge=-1e6, le=0, description="lambda_min of MM-REx (must be <= 0).")
    rex_risk: Literal["nll", "error"] = Field(
        "nll", description="Per-domain risk for REx on classification (regression always uses MSE)."
    )
    pca_components: int = Field(
        3, ge=1, le=1000, description="Principal components kept in the disagreement PCA."
    )
    pca_scores: bool = Field(
        True, description="Write per-example PCA scores (one row per example and component)."
    )
    jackknife_blocks: int = Field(
        50,
        ge=2,
        le=100_000,
        description="Delete-a-block jackknife with this many blocks; delete-one when n is not larger.",
    )
    max_correlation_units: int = Field(
        200,
        ge=2,
        le=10_000,
        description=(
            "Bound of correlations.parquet: the full cross-test matrix covers at most this many whole-test "
            "rows (tests and variants) per metric, and the strata of one test are paired with each other "
            "only when there are at most this many; beyond, rows are paired with the iid test and their own "
            "whole test only, and the run notes it (docs/methods.md §2)."
        ),
    )
    seed_offset: int = Field(
        0,
        ge=-(2**62),
        le=2**62,
        description="Added to the audit seed for every statistic (re-draw without editing the seed).",
    )
    chunk_size: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="Permutations/replicates per vectorized chunk (0 = automatic, bounded memory).",
    )
