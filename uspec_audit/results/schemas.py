"""Documented column schemas of the result tables (``schemas/tables/<table>.schema.json``).

The core tables are declared here; the statistics tables are declared by
:mod:`uspec_audit.stats` in the same format. ``python -m uspec_audit.results.schemas``
rewrites the core files; a test fails when a table written by a run drifts
from its schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "tables"

_IDENTITY = [
    ("ensemble", "string", False, "Ensemble name (a key of [ensembles])."),
    ("member", "string", False, "Member name (file stem or [[member]] name)."),
    ("group", "string", True, "Member group for nested-seed analysis, if any."),
    ("test", "string", False, "Test name."),
    ("kind", "string", False, "Test kind: iid, stratified, shifted, perturbed, contrastive or a plugin kind."),
    ("variant", "string", False, "'none' unperturbed, else '<perturbation>@<severity>'."),
    ("perturbation", "string", True, "Perturbation name of the variant, if any."),
    ("severity", "int64", True, "Perturbation severity, if any."),
    ("stratum", "string", False, "'all' for the whole test, else 'attr=value' (several joined with ';')."),
]

CORE_TABLES: dict[str, list[tuple[str, str, bool, str]]] = {
    "metrics": _IDENTITY + [
        ("n", "int64", False, "Examples in the stratum."),
        ("metric", "string", False, "Metric name."),
        ("value", "double", True, "The member's metric value (NaN where undefined)."),
    ],
    "predictions": [
        ("member", "string", False, "Member name."),
        ("example_id", "int64|string", False, "Stable example id."),
        ("target", "int64|double", False, "True label (classification) or target (regression)."),
        ("pred_label", "int64", False, "Arg-max class (classification only)."),
        ("true_prob", "double", False, "Probability of the true class (classification only)."),
        ("confidence", "double", False, "Probability of the predicted class (classification only)."),
        ("prediction", "double", False, "Predicted value (regression only)."),
    ],
    "contracts": [
        ("ensemble", "string", False, "Ensemble name."),
        ("test", "string", False, "Test whose contract this is."),
        ("variant", "string", False, "Variant checked."),
        ("stratum", "string", False, "Stratum checked ('all' for the whole test)."),
        ("metric", "string", False, "Metric bounded (flip_rate[member] for max_flip_rate)."),
        ("contract", "string", False, "Bound: max_sd_ratio, min_mean, max_mean, max_sd, min_worst, max_flip_rate."),
        ("bound", "double", False, "The bound from the audit file."),
        ("observed", "double", True, "The observed statistic (NaN when it could not be computed: a FAIL)."),
        ("status", "string", False, "PASS or FAIL."),
        ("message", "string", False, "One sentence explaining the verdict."),
    ],
    "corruptions": [
        ("ensemble", "string", False, "Ensemble name."),
        ("test", "string", False, "Perturbed test name."),
        ("perturbation", "string", False, "Perturbation, or 'mean' for the average over perturbations (mCE)."),
        ("n_severities", "int64", False, "Severities averaged over."),
        ("mean_error", "double", True, "1 - accuracy, averaged over severities and members."),
        ("sd_error", "double", True, "Across-member sd of each member's severity-averaged error."),
        ("min_member_error", "double", True, "Best member's severity-averaged error."),
        ("max_member_error", "double", True, "Worst member's severity-averaged error."),
        ("baseline", "string", True, "Baseline ensemble of the test (as in mCE), if named."),
        ("relative_ce", "double", True, "Mean over members of sum_s E_m,s / sum_s E_baseline,s (Hendrycks & "
                                        "Dietterich 2019)."),
        ("relative_ce_sd", "double", True, "Across-member sd of the relative corruption error."),
    ],
    "differences": [
        ("comparison", "string", False, "test_vs_reference (same ensemble) or ensemble_vs_ensemble (same test)."),
        ("ensemble_a", "string", False, "Ensemble of side A."),
        ("test_a", "string", False, "Test of side A."),
        ("variant_a", "string", False, "Variant of side A."),
        ("ensemble_b", "string", False, "Ensemble of side B (the reference side)."),
        ("test_b", "string", False, "Test of side B."),
        ("variant_b", "string", False, "Variant of side B."),
        ("metric", "string", False, "A metric that is a mean over examples (accuracy, error, top5_accuracy, nll, "
                                    "brier, mse, mae)."),
        ("statistic", "string", False, "mean or sd over members."),
        ("difference", "double", False, "Observed statistic(A) - statistic(B)."),
        ("ci_low", "double", True, "Lower end of the multi-bootstrap percentile CI."),
        ("ci_high", "double", True, "Upper end of the multi-bootstrap percentile CI."),
        ("p_value", "double", True, "Two-sided Monte Carlo p of 'the difference is 0': min(1, 2 (1 + b) / (1 + B)), "
                                    "b the replicates in the smaller tail; never 0 (docs/methods.md §11, §16)."),
        ("p_adj", "double", True, "Benjamini-Hochberg adjustment of p_value across the whole table; null when FDR "
                                  "control is off (docs/methods.md §16)."),
        ("paired_examples", "bool", False, "Both sides hold the same examples: resampled with the same indices."),
        ("paired_members", "bool", False, "Same ensemble: members resampled once for both sides."),
        ("replicates", "int64", False, "Bootstrap replicates."),
    ],
    "flips": [
        ("ensemble", "string", False, "Ensemble name."),
        ("test", "string", False, "Contrastive test name."),
        ("variant", "string", False, "Counterfactual variant compared with the original ('none' for linked sets)."),
        ("member", "string", True, "Member (null for ensemble-wide shared_* rows)."),
        ("other_member", "string", True, "The other member of an overlap row."),
        ("kind", "string", False, "rate, count, overlap (overlap_mean above 100 members), shared_*, "
                                  "mean_abs_change, decision_*, risk_change_* (docs/methods.md §9; "
                                  "uspec_audit/stats/flips.py)."),
        ("value", "double", True, "The statistic."),
        ("n_sets", "int64", False, "Examples or matched sets the value is computed over."),
    ],
}


def schema_document(table: str, columns: list[tuple[str, str, bool, str]]) -> dict:
    return {"table": table, "columns": [{"name": n, "type": t, "nullable": null, "description": d}
                                        for n, t, null, d in columns]}


def load_schema(table: str, folder: Path = SCHEMA_DIR) -> dict:
    """The schema document of a table."""
    return json.loads((folder / f"{table}.schema.json").read_text(encoding="utf-8"))


def arrow_type_matches(declared: str, actual: pa.DataType) -> bool:
    """Whether an Arrow type fits a declared type name (``a|b`` for alternatives)."""
    names = {str(actual), "string" if pa.types.is_string(actual) or pa.types.is_large_string(actual) else ""}
    if pa.types.is_integer(actual):
        names.add("int64")
    if pa.types.is_floating(actual):
        names.add("double")
    if pa.types.is_boolean(actual):
        names.add("bool")
    if pa.types.is_null(actual):
        return True  # an all-null column has no type of its own
    return any(option.strip() in names for option in declared.split("|"))


def write_core_schemas(folder: Path = SCHEMA_DIR) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for table, columns in CORE_TABLES.items():
        text = json.dumps(schema_document(table, columns), indent=2) + "\n"
        (folder / f"{table}.schema.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write_core_schemas()
