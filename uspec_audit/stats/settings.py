"""Settings of the ensemble analysis (the ``[analysis]`` table of an audit file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AnalysisSettings"]


class AnalysisSettings(BaseModel):
    """Thresholds, resampling sizes and options of the ensemble statistics (METHODS.md)."""

    model_config = ConfigDict(extra="forbid")

    sd_ratio_threshold: float = Field(
        2.0,
        gt=0,
        description="Verdict 'underspecified' needs sd(test)/sd(iid) at or above this (METHODS §14).",
    )
    alpha: float = Field(
        0.05, gt=0, lt=1, description="Significance level for the systematic-variation permutation p-value."
    )
    permutations: int = Field(
        10000,
        ge=0,
        description="Permutations for the systematic-variation, strata-shuffle and correlation tests (0 = skip).",
    )
    bootstrap: int = Field(
        2000,
        ge=0,
        description="Multi-bootstrap replicates (members and examples resampled) for CIs (0 = skip).",
    )
    member_bootstrap: int = Field(
        2000, ge=0, description="Bootstrap replicates over members for the correlation CIs (0 = skip)."
    )
    fdr: bool = Field(
        True, description="Control the false discovery rate of permutation p-values (Benjamini-Hochberg)."
    )
    ci_level: float = Field(0.95, gt=0, lt=1, description="Coverage of every percentile confidence interval.")
    calibration_bins: int = Field(
        10, ge=1, description="Equal-width confidence bins of the reliability curves and ECE."
    )
    marginalization_subsets: int = Field(
        50, ge=1, description="Random member subsets per size k in the marginalization curve (App. A)."
    )
    rex_lambda_min: float = Field(-1.0, le=0, description="lambda_min of MM-REx (must be <= 0).")
    rex_risk: Literal["nll", "error"] = Field(
        "nll", description="Per-domain risk for REx on classification (regression always uses MSE)."
    )
    pca_components: int = Field(3, ge=1, description="Principal components kept in the disagreement PCA.")
    pca_scores: bool = Field(
        True, description="Write per-example PCA scores (one row per example and component)."
    )
    jackknife_blocks: int = Field(
        50,
        ge=2,
        description="Delete-a-block jackknife with this many blocks; delete-one when n is not larger.",
    )
    seed_offset: int = Field(
        0, description="Added to the audit seed for every statistic (re-draw without editing the seed)."
    )
    chunk_size: int = Field(
        0, ge=0, description="Permutations/replicates per vectorized chunk (0 = automatic, bounded memory)."
    )
