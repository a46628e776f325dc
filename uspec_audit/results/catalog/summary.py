"""The summary table: one row per ensemble, test, variant, stratum and metric, with its verdict."""

from __future__ import annotations

from uspec_audit.results.catalog.model import Column, Table

__all__ = ["KEY", "SUMMARY"]

KEY = (
    Column("ensemble", "string", False, "Ensemble name."),
    Column("test", "string", False, "Stress test name."),
    Column(
        "kind",
        "string",
        False,
        "Test kind: iid, stratified, shifted, perturbed, contrastive or a plugin kind.",
    ),
    Column("variant", "string", False, "'none' or '<perturbation>@<severity>'."),
    Column("perturbation", "string", True, "Perturbation of the variant (null when unperturbed)."),
    Column("severity", "int64", True, "Severity of the variant (null when unperturbed)."),
    Column("stratum", "string", False, "'all' or 'attr=value' ('a=x;b=y' for several attributes)."),
    Column("metric", "string", False, "Metric name."),
)

SUMMARY = Table(
    name="summary",
    file="summary.parquet",
    row="ensemble × test × variant × stratum × metric",
    description=(
        "The spread of each metric across members, its comparison with the iid reference, the tests and "
        "the verdict (docs/methods.md)."
    ),
    report="required",
    written_by="uspec_audit.stats.analyze",
    columns=KEY
    + (
        Column("n_members", "int64", False, "Members with a (non-NaN) value."),
        Column("n_examples", "int64", False, "Examples in the test/stratum."),
        Column("mean", "double", True, "Mean of the metric over members."),
        Column("sd", "double", True, "SD over members (ddof=1); null with < 2 members."),
        Column("min", "double", True, "Smallest member value."),
        Column("max", "double", True, "Largest member value."),
        Column("range", "double", True, "max - min."),
        Column(
            "sd_ratio",
            "double",
            True,
            "Raw sd ratio sd / ref_sd, the paper's headline number (docs/methods.md §1); includes "
            "sampling noise; null when ref_sd is 0 or undefined.",
        ),
        Column("ref_sd", "double", True, "SD over members on the reference (iid) test, same metric."),
        Column("worst_member", "string", True, "Member with the worst value (direction from the metric)."),
        Column("worst_value", "double", True, "Its value."),
        Column("best_member", "string", True, "Member with the best value."),
        Column("best_value", "double", True, "Its value."),
        Column(
            "spearman_rho",
            "double",
            True,
            "Spearman rho of member values on ref vs this row (docs/methods.md §2); null on the reference"
            " row.",
        ),
        Column("spearman_ci_low", "double", True, "Lower end of the percentile bootstrap CI over members."),
        Column("spearman_ci_high", "double", True, "Upper end of that CI."),
        Column("spearman_p", "double", True, "Two-sided permutation p-value of rho."),
        Column("pearson_r", "double", True, "Pearson r of member values on ref vs this row."),
        Column("pearson_p", "double", True, "Two-sided p-value of r (t-test, scipy.stats.pearsonr)."),
        Column(
            "perm_p",
            "double",
            True,
            "Do the members differ at all on this row? Monte Carlo p of the exchangeability permutation "
            "test (errors redistributed between members on whole tests, strata shuffle on strata; "
            "docs/methods.md §4), (1 + b)/(1 + B). On the reference row: 'members differ on iid'. From "
            "correctness (classification) or squared error (regression), the same for every metric of the"
            " row. Not a verdict input.",
        ),
        Column(
            "perm_p_adj",
            "double",
            True,
            "perm_p after Benjamini-Hochberg over the rows (units) of the whole audit, reference rows "
            "included (docs/methods.md §16); null when FDR control is off.",
        ),
        Column(
            "noise_sd",
            "double",
            True,
            "SD across members that the sampling noise of this row's examples alone produces: sqrt(tr(C S"
            " C)/(M-1)), S the noise covariance of the member values (docs/methods.md §15).",
        ),
        Column(
            "systematic_sd",
            "double",
            True,
            "Between-member SD beyond that noise: sqrt(max(0, sd^2 - noise_sd^2)), an unbiased variance "
            "estimate (docs/methods.md §15).",
        ),
        Column(
            "ref_systematic_sd",
            "double",
            True,
            "systematic_sd of the same metric on the reference (iid) row.",
        ),
        Column(
            "sd_ratio_corrected",
            "double",
            True,
            "Noise-corrected sd ratio: systematic_sd / max(ref_systematic_sd, iid noise_sd) -- the iid "
            "noise sd floors the denominator when iid members are indistinguishable, so the ratio is "
            "never infinite (docs/methods.md §15). Rank rows by sd_ratio_corrected_ci_low.",
        ),
        Column(
            "sd_ratio_corrected_ci_low",
            "double",
            True,
            "Lower end of its multi-bootstrap percentile CI (members paired with iid, examples "
            "resampled); the headline ranking key.",
        ),
        Column("sd_ratio_corrected_ci_high", "double", True, "Upper end."),
        Column(
            "excess_sd",
            "double",
            True,
            "Between-member SD on this row that the iid member values do not predict (after the best "
            "slope >= 0 on them), beyond sampling noise (docs/methods.md §14.1).",
        ),
        Column(
            "excess_slope",
            "double",
            True,
            "That slope: this row's member differences per unit of iid difference.",
        ),
        Column(
            "excess_floor",
            "double",
            True,
            "Practical floor of 'underspecified': min_excess_ratio x max(iid systematic sd, iid noise sd).",
        ),
        Column(
            "excess_p",
            "double",
            True,
            "Excess test (member x test interaction): Monte Carlo p of the null 'members differ on this "
            "row no more than their iid differences predict' (a slope >= 0 on the iid values; carry-over "
            "allowed), (1 + b)/(1 + B), from this metric's own per-example values (docs/methods.md "
            "§14.1).",
        ),
        Column(
            "excess_p_adj",
            "double",
            True,
            "excess_p after Benjamini-Hochberg over the non-reference rows of the audit (all metrics); "
            "null when FDR control is off.",
        ),
        Column(
            "mean_difference", "double", True, "Ensemble mean on this row minus on the reference (iid) row."
        ),
        Column(
            "mean_difference_ci_low",
            "double",
            True,
            "Multi-bootstrap percentile CI of that difference (members paired; examples paired where "
            "shared).",
        ),
        Column("mean_difference_ci_high", "double", True, "Upper end."),
        Column(
            "degraded_p",
            "double",
            True,
            "One-sided p that the mean is worse than on iid (bad direction of the metric), from the "
            "paired multi-bootstrap of the difference, (1 + b)/(1 + B) with b the replicates not worse "
            "(docs/methods.md §14.2).",
        ),
        Column(
            "degraded_p_adj",
            "double",
            True,
            "degraded_p after Benjamini-Hochberg over the non-reference rows of the audit (all metrics); "
            "null when FDR control is off.",
        ),
        Column(
            "disagreement",
            "double",
            True,
            "Mean pairwise disagreement of predicted labels (classification).",
        ),
        Column(
            "mean_ci_low",
            "double",
            True,
            "Multi-bootstrap percentile CI of the mean (additive metrics only: accuracy, error, "
            "top5_accuracy, nll, brier, mse, mae; docs/methods.md §11).",
        ),
        Column("mean_ci_high", "double", True, "Upper end."),
        Column(
            "sd_ci_low",
            "double",
            True,
            "Multi-bootstrap percentile CI of the SD over members (every metric that can be resampled, "
            "docs/methods.md §11).",
        ),
        Column("sd_ci_high", "double", True, "Upper end."),
        Column(
            "sd_ratio_ci_low",
            "double",
            True,
            "Multi-bootstrap percentile CI of the SD ratio (members paired with ref).",
        ),
        Column("sd_ratio_ci_high", "double", True, "Upper end."),
        Column(
            "jackknife_z",
            "double",
            True,
            "Two-sample z of sd vs ref_sd with jackknife SEs over examples (docs/methods.md §5).",
        ),
        Column("jackknife_p", "double", True, "One-sided p = P(Z >= z)."),
        Column(
            "anova_f",
            "double",
            True,
            "One-way ANOVA F of member values by group (nested seeds, docs/methods.md §6).",
        ),
        Column("anova_p", "double", True, "p-value from F(G-1, M-G)."),
        Column("between_group_share", "double", True, "SS_between / SS_total."),
        Column(
            "verdict",
            "string",
            False,
            "insufficient | underspecified | degraded | stable, per metric (docs/methods.md §14).",
        ),
        Column("verdict_reason", "string", False, "One sentence: the numbers the verdict was read from."),
    ),
)
