"""Every result table but the summary (:mod:`.summary`)."""

from __future__ import annotations

from uspec_audit.results.catalog.model import Column, Table

__all__ = [
    "IDENTITY",
    "UNIT_KEY",
    "PREDICTIONS",
    "METRICS",
    "CONTRACTS",
    "CORRELATIONS",
    "CALIBRATION",
    "PCA",
    "MARGINALIZATION",
    "REX",
    "FLIPS",
    "DISAGREEMENT",
    "CORRUPTIONS",
    "DIFFERENCES",
]

#: The key of a statistics row's prediction set: ensemble, test, variant.
UNIT_KEY = (
    Column("ensemble", "string", False, "Ensemble name."),
    Column("test", "string", False, "Test name."),
    Column("variant", "string", False, "Variant."),
)

IDENTITY = (
    Column("ensemble", "string", False, "Ensemble name (a key of [ensembles])."),
    Column("member", "string", False, "Member name (file stem or [[member]] name)."),
    Column("group", "string", True, "Member group for nested-seed analysis, if any."),
    Column("test", "string", False, "Test name."),
    Column(
        "kind",
        "string",
        False,
        "Test kind: iid, stratified, shifted, perturbed, contrastive or a plugin kind.",
    ),
    Column("variant", "string", False, "'none' unperturbed, else '<perturbation>@<severity>'."),
    Column("perturbation", "string", True, "Perturbation name of the variant, if any."),
    Column("severity", "int64", True, "Perturbation severity, if any."),
    Column(
        "stratum",
        "string",
        False,
        "'all' for the whole test, else 'attr=value' (several joined with ';').",
    ),
)

PREDICTIONS = Table(
    name="predictions",
    file="predictions/ensemble=E/test=T/variant=V/part-0.parquet",
    row="member × example (one file per ensemble, test and variant)",
    description=(
        "Each member's prediction on each example: the raw material of every statistic. Classification "
        "files have pred_label, true_prob and confidence; regression files have prediction."
    ),
    report=None,
    written_by="uspec_audit.results.predictions",
    columns=(
        Column("member", "string", False, "Member name."),
        Column(
            "example_id",
            "int64|string",
            False,
            "Stable example id, as the dataset gives it (an integer or a string for the built-in sources).",
        ),
        Column("target", "int64|double", False, "True label (classification) or target (regression)."),
        Column("pred_label", "int64", False, "Arg-max class (classification only)."),
        Column("true_prob", "double", False, "Probability of the true class (classification only)."),
        Column("confidence", "double", False, "Probability of the predicted class (classification only)."),
        Column("prediction", "double", False, "Predicted value (regression only)."),
    ),
)

METRICS = Table(
    name="metrics",
    file="metrics.parquet",
    row="ensemble × member × test × variant × stratum × metric",
    description="Every member's value of every metric on every test, variant and stratum.",
    report="required",
    written_by="uspec_audit.engine.member_metrics",
    columns=IDENTITY
    + (
        Column("n", "int64", False, "Examples in the stratum."),
        Column("metric", "string", False, "Metric name."),
        Column("value", "double", True, "The member's metric value (NaN where undefined)."),
    ),
)

CONTRACTS = Table(
    name="contracts",
    file="contracts.parquet",
    row="contract bound × ensemble × variant × stratum × metric",
    description="Every contract bound of the audit file checked: the observed statistic, PASS or FAIL and why.",
    report="optional",
    written_by="uspec_audit.contracts",
    columns=(
        Column("ensemble", "string", False, "Ensemble name."),
        Column("test", "string", False, "Test whose contract this is."),
        Column("variant", "string", False, "Variant checked."),
        Column("stratum", "string", False, "Stratum checked ('all' for the whole test)."),
        Column("metric", "string", False, "Metric bounded (flip_rate[member] for max_flip_rate)."),
        Column(
            "contract",
            "string",
            False,
            "Bound: max_sd_ratio, min_mean, max_mean, max_sd, min_worst, max_flip_rate.",
        ),
        Column("bound", "double", False, "The bound from the audit file."),
        Column(
            "observed", "double", True, "The observed statistic (NaN when it could not be computed: a FAIL)."
        ),
        Column("status", "string", False, "PASS or FAIL."),
        Column("message", "string", False, "One sentence explaining the verdict."),
    ),
)

CORRELATIONS = Table(
    name="correlations",
    file="correlations.parquet",
    row="ensemble × metric × pair of (test, variant, stratum) cells",
    description="Rank and linear correlation of the member values between two cells (docs/methods.md §2).",
    report="optional",
    written_by="uspec_audit.stats.analyze",
    columns=(
        Column("ensemble", "string", False, "Ensemble name."),
        Column("metric", "string", False, "Metric name."),
        Column("test_a", "string", False, "First test."),
        Column("variant_a", "string", False, "Its variant."),
        Column("stratum_a", "string", False, "Its stratum."),
        Column("test_b", "string", False, "Second test."),
        Column("variant_b", "string", False, "Its variant."),
        Column("stratum_b", "string", False, "Its stratum."),
        Column("spearman", "double", True, "Spearman rho over members (pairwise complete)."),
        Column("pearson", "double", True, "Pearson r over members."),
        Column("n_members", "int64", False, "Members with values on both."),
    ),
)

CALIBRATION = Table(
    name="calibration",
    file="calibration.parquet",
    row="ensemble × member × test × variant × stratum × confidence bin",
    description="Reliability diagram of each member (classification), with its ECE and Brier score.",
    report="optional",
    written_by="uspec_audit.stats.analyze",
    columns=(
        Column("ensemble", "string", False, "Ensemble name."),
        Column("member", "string", False, "Member name."),
        Column("test", "string", False, "Test name."),
        Column("variant", "string", False, "Variant."),
        Column("stratum", "string", False, "'all' or the stratum label."),
        Column("bin", "int64", False, "Bin index, 0-based."),
        Column("bin_lower", "double", False, "Lower edge of the confidence bin [l, u)."),
        Column("bin_upper", "double", False, "Upper edge (the last bin is closed at 1)."),
        Column("confidence", "double", True, "Mean top-label confidence in the bin (null when empty)."),
        Column("accuracy", "double", True, "Accuracy in the bin (null when empty)."),
        Column("count", "int64", False, "Examples in the bin."),
        Column(
            "ece",
            "double",
            True,
            "Expected calibration error of the member on the stratum (repeated per bin).",
        ),
        Column("brier", "double", True, "Brier score (summed over classes) of the member on the stratum."),
    ),
)

PCA = Table(
    name="pca",
    file="pca.parquet",
    row="ensemble × test × variant × (component | member loading | example score | attribute association)",
    description=(
        "Principal components of the members' per-example predictions: explained variance, loadings, "
        "scores and their association with attributes (Spearman rho for numeric ones, eta for categorical ones)."
    ),
    report="optional",
    written_by="uspec_audit.stats.analyze",
    columns=(
        *UNIT_KEY,
        Column("kind", "string", False, "explained | loading | score | attribute_corr | attribute_eta."),
        Column("component", "int64", False, "Principal component, 1-based."),
        Column("member", "string", True, "Member (loading rows)."),
        Column("example_id", "string", True, "Example id as text (score rows)."),
        Column(
            "value",
            "double",
            True,
            "Explained variance ratio, loading, score, Spearman rho with a numeric attribute (attribute_corr) or "
            "correlation ratio eta with a categorical one (attribute_eta).",
        ),
        Column("attribute", "string", True, "Attribute (attribute_corr and attribute_eta rows)."),
    ),
)

MARGINALIZATION = Table(
    name="marginalization",
    file="marginalization.parquet",
    row="ensemble × test × variant × k",
    description=(
        "Averaging k members instead of choosing one: the averaged ensemble's metric against the member "
        "best on the reference."
    ),
    report="optional",
    written_by="uspec_audit.stats.analyze",
    columns=(
        *UNIT_KEY,
        Column("k", "int64", False, "Members averaged."),
        Column("metric", "string", False, "accuracy (classification) or mse (regression)."),
        Column("mean", "double", True, "Mean over random k-subsets of the averaged ensemble's metric."),
        Column("sd", "double", True, "SD over those subsets (ddof=1)."),
        Column("best_member_on_ref", "string", True, "Best single member on the reference test."),
        Column("best_ref_member_value", "double", True, "That member's value on this test."),
        Column(
            "oracle_member_value", "double", True, "Best single member's value on this test (oracle choice)."
        ),
        Column(
            "smallest_k_beating_best",
            "int64",
            True,
            "Smallest k whose mean beats best_ref_member_value; null if none.",
        ),
    ),
)

REX = Table(
    name="rex",
    file="rex.parquet",
    row="ensemble × member × domain set × risk",
    description=(
        "Risk extrapolation (REx) criteria of each member over a set of domains, and which member each "
        "criterion selects."
    ),
    report="optional",
    written_by="uspec_audit.stats.analyze",
    columns=(
        Column("ensemble", "string", False, "Ensemble name."),
        Column("member", "string", False, "Member name."),
        Column(
            "domain_set",
            "string",
            False,
            "Stratified test (domains = strata), perturbed test (domains = ref + variants) or 'shifted' "
            "(ref + shifted tests).",
        ),
        Column("risk", "string", False, "nll | error (classification) or mse (regression)."),
        Column("v_rex", "double", True, "Var_e(R_e) (ddof=0)."),
        Column("ri", "double", True, "max_e R_e."),
        Column("mm_rex", "double", True, "(1 - E lambda_min) max_e R_e + lambda_min sum_e R_e."),
        Column(
            "selected_by",
            "string",
            True,
            "Criteria (erm, v_rex, ri, mm_rex) selecting this member, comma-separated; null if none.",
        ),
    ),
)

FLIPS = Table(
    name="flips",
    file="flips.parquet",
    row="contrastive test × variant × member (or member pair) × statistic",
    description=(
        "Contrastive tests: flip rates, counts, overlaps, shared flips, decision flips and risk changes "
        "between original and counterfactual examples."
    ),
    report="optional",
    written_by="uspec_audit.stats.flips",
    columns=(
        Column("ensemble", "string", False, "Ensemble name."),
        Column("test", "string", False, "Contrastive test name."),
        Column(
            "variant",
            "string",
            False,
            "Counterfactual variant compared with the original ('none' for linked sets).",
        ),
        Column("member", "string", True, "Member (null for ensemble-wide shared_* rows)."),
        Column("other_member", "string", True, "The other member of an overlap row."),
        Column(
            "kind",
            "string",
            False,
            "rate, count, overlap (overlap_mean above 100 members), shared_*, mean_abs_change, "
            "decision_*, risk_change_* (docs/methods.md §9; uspec_audit/stats/flips.py).",
        ),
        Column("value", "double", True, "The statistic."),
        Column("n_sets", "int64", False, "Examples or matched sets the value is computed over."),
    ),
)

DISAGREEMENT = Table(
    name="disagreement",
    file="disagreement.parquet",
    row="ensemble × test × variant × stratum",
    description="How much the members' predictions disagree, example by example.",
    report="optional",
    written_by="uspec_audit.stats.analyze",
    columns=(
        *UNIT_KEY,
        Column("stratum", "string", False, "'all' or the stratum label."),
        Column("disagreement", "double", True, "Mean pairwise disagreement of labels (classification)."),
        Column(
            "ambiguity",
            "double",
            True,
            "Share of examples where some member differs from the baseline (best on ref).",
        ),
        Column("discrepancy", "double", True, "Largest share on which one member differs from the baseline."),
        Column("mean_vote_entropy", "double", True, "Mean per-example entropy (nats) of the label votes."),
        Column(
            "sensitivity",
            "double",
            True,
            "Mean pairwise E[(f_m - f_m')^2] of true-class probability (classification) or prediction "
            "(regression).",
        ),
        Column(
            "sensitivity_ratio",
            "double",
            True,
            "sensitivity / mean member risk (regression: MSE; classification: mean (1 - p_true)^2).",
        ),
    ),
)

CORRUPTIONS = Table(
    name="corruptions",
    file="corruptions.parquet",
    row="ensemble × perturbed test × perturbation (and a 'mean' row)",
    description=(
        "Corruption errors averaged over severities, as in mCE (Hendrycks & Dietterich 2019); perturbed "
        "tests only."
    ),
    report=None,
    written_by="uspec_audit.stats.corruption",
    columns=(
        Column("ensemble", "string", False, "Ensemble name."),
        Column("test", "string", False, "Perturbed test name."),
        Column(
            "perturbation",
            "string",
            False,
            "Perturbation, or 'mean' for the average over perturbations (mCE).",
        ),
        Column("n_severities", "int64", False, "Severities averaged over."),
        Column("mean_error", "double", True, "1 - accuracy, averaged over severities and members."),
        Column("sd_error", "double", True, "Across-member sd of each member's severity-averaged error."),
        Column("min_member_error", "double", True, "Best member's severity-averaged error."),
        Column("max_member_error", "double", True, "Worst member's severity-averaged error."),
        Column("baseline", "string", True, "Baseline ensemble of the test (as in mCE), if named."),
        Column(
            "relative_ce",
            "double",
            True,
            "Mean over members of sum_s E_m,s / sum_s E_baseline,s (Hendrycks & Dietterich 2019).",
        ),
        Column("relative_ce_sd", "double", True, "Across-member sd of the relative corruption error."),
    ),
)

DIFFERENCES = Table(
    name="differences",
    file="differences.parquet",
    row="comparison × metric × statistic",
    description=(
        "Multi-bootstrap differences of the mean and sd over members: each test against the reference, "
        "each pair of ensembles on a test."
    ),
    report=None,
    written_by="uspec_audit.stats.differences",
    columns=(
        Column(
            "comparison",
            "string",
            False,
            "test_vs_reference (same ensemble) or ensemble_vs_ensemble (same test).",
        ),
        Column("ensemble_a", "string", False, "Ensemble of side A."),
        Column("test_a", "string", False, "Test of side A."),
        Column("variant_a", "string", False, "Variant of side A."),
        Column("ensemble_b", "string", False, "Ensemble of side B (the reference side)."),
        Column("test_b", "string", False, "Test of side B."),
        Column("variant_b", "string", False, "Variant of side B."),
        Column(
            "metric",
            "string",
            False,
            "A metric that is a mean over examples (accuracy, error, top5_accuracy, nll, brier, mse, mae).",
        ),
        Column("statistic", "string", False, "mean or sd over members."),
        Column("difference", "double", False, "Observed statistic(A) - statistic(B)."),
        Column("ci_low", "double", True, "Lower end of the multi-bootstrap percentile CI."),
        Column("ci_high", "double", True, "Upper end of the multi-bootstrap percentile CI."),
        Column(
            "p_value",
            "double",
            True,
            "Two-sided Monte Carlo p of 'the difference is 0': min(1, 2 (1 + b) / (1 + B)), b the "
            "replicates in the smaller tail; never 0 (docs/methods.md §11, §16).",
        ),
        Column(
            "p_adj",
            "double",
            True,
            "Benjamini-Hochberg adjustment of p_value across the whole table; null when FDR control is "
            "off (docs/methods.md §16).",
        ),
        Column(
            "paired_examples",
            "bool",
            False,
            "Both sides hold the same examples: resampled with the same indices.",
        ),
        Column("paired_members", "bool", False, "Same ensemble: members resampled once for both sides."),
        Column("replicates", "int64", False, "Bootstrap replicates."),
    ),
)
