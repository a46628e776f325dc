"""Column specifications of the analysis tables (the source of ``schemas/tables/*.schema.json``).

Each table is a list of :class:`Column` (name, Arrow type string, nullable,
description); :func:`frame` builds a DataFrame with exactly these columns, in
this order and with matching dtypes; :func:`arrow_schema` gives the
:class:`pyarrow.Schema`; :func:`schema_document` the JSON document, and
``python -m uspec_audit.stats.tables`` rewrites the files in ``schemas/tables/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Block", "Column", "TABLES", "frame", "arrow_schema", "schema_document"]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # "string" | "int64" | "double" | "bool"
    nullable: bool
    description: str


def _c(name: str, type_: str, nullable: bool, description: str) -> Column:
    return Column(name, type_, nullable, description)


_KEY = [
    _c("ensemble", "string", False, "Ensemble name."),
    _c("test", "string", False, "Stress test name."),
    _c(
        "kind",
        "string",
        False,
        "Test kind: iid, stratified, shifted, perturbed, contrastive or a plugin kind.",
    ),
    _c("variant", "string", False, "'none' or '<perturbation>@<severity>'."),
    _c("perturbation", "string", True, "Perturbation of the variant (null when unperturbed)."),
    _c("severity", "int64", True, "Severity of the variant (null when unperturbed)."),
    _c("stratum", "string", False, "'all' or 'attr=value' ('a=x;b=y' for several attributes)."),
    _c("metric", "string", False, "Metric name."),
]

_F = "double"

TABLES: dict[str, list[Column]] = {
    "summary": _KEY
    + [
        _c("n_members", "int64", False, "Members with a (non-NaN) value."),
        _c("n_examples", "int64", False, "Examples in the test/stratum."),
        _c("mean", _F, True, "Mean of the metric over members."),
        _c("sd", _F, True, "SD over members (ddof=1); null with < 2 members."),
        _c("min", _F, True, "Smallest member value."),
        _c("max", _F, True, "Largest member value."),
        _c("range", _F, True, "max - min."),
        _c("sd_ratio", _F, True, "Raw sd ratio sd / ref_sd, the paper's headline number (docs/methods.md §1); includes sampling noise; null when ref_sd is 0 or undefined."),
        _c("ref_sd", _F, True, "SD over members on the reference (iid) test, same metric."),
        _c("worst_member", "string", True, "Member with the worst value (direction from the metric)."),
        _c("worst_value", _F, True, "Its value."),
        _c("best_member", "string", True, "Member with the best value."),
        _c("best_value", _F, True, "Its value."),
        _c(
            "spearman_rho",
            _F,
            True,
            "Spearman rho of member values on ref vs this row (docs/methods.md §2); null on the reference row.",
        ),
        _c("spearman_ci_low", _F, True, "Lower end of the percentile bootstrap CI over members."),
        _c("spearman_ci_high", _F, True, "Upper end of that CI."),
        _c("spearman_p", _F, True, "Two-sided permutation p-value of rho."),
        _c("pearson_r", _F, True, "Pearson r of member values on ref vs this row."),
        _c("pearson_p", _F, True, "Two-sided p-value of r (t-test, scipy.stats.pearsonr)."),
        _c(
            "perm_p",
            _F,
            True,
            "Do the members differ at all on this row? Monte Carlo p of the exchangeability permutation test "
            "(errors redistributed between members on whole tests, strata shuffle on strata; docs/methods.md §4), "
            "(1 + b)/(1 + B). On the reference row: 'members differ on iid'. From correctness (classification) "
            "or squared error (regression), the same for every metric of the row. Not a verdict input.",
        ),
        _c(
            "perm_p_adj",
            _F,
            True,
            "perm_p after Benjamini-Hochberg over the rows (units) of the whole audit, reference rows included "
            "(docs/methods.md §16); null when FDR control is off.",
        ),
        _c(
            "noise_sd",
            _F,
            True,
            "SD across members that the sampling noise of this row's examples alone produces: "
            "sqrt(tr(C S C)/(M-1)), S the noise covariance of the member values (docs/methods.md §15).",
        ),
        _c(
            "systematic_sd",
            _F,
            True,
            "Between-member SD beyond that noise: sqrt(max(0, sd^2 - noise_sd^2)), an unbiased variance "
            "estimate (docs/methods.md §15).",
        ),
        _c("ref_systematic_sd", _F, True, "systematic_sd of the same metric on the reference (iid) row."),
        _c(
            "sd_ratio_corrected",
            _F,
            True,
            "Noise-corrected sd ratio: systematic_sd / max(ref_systematic_sd, iid noise_sd) -- the iid noise sd "
            "floors the denominator when iid members are indistinguishable, so the ratio is never infinite "
            "(docs/methods.md §15). Rank rows by sd_ratio_corrected_ci_low.",
        ),
        _c(
            "sd_ratio_corrected_ci_low",
            _F,
            True,
            "Lower end of its multi-bootstrap percentile CI (members paired with iid, examples resampled); "
            "the headline ranking key.",
        ),
        _c("sd_ratio_corrected_ci_high", _F, True, "Upper end."),
        _c(
            "excess_sd",
            _F,
            True,
            "Between-member SD on this row that the iid member values do not predict (after the best slope "
            ">= 0 on them), beyond sampling noise (docs/methods.md §14.1).",
        ),
        _c("excess_slope", _F, True, "That slope: this row's member differences per unit of iid difference."),
        _c(
            "excess_floor",
            _F,
            True,
            "Practical floor of 'underspecified': min_excess_ratio x max(iid systematic sd, iid noise sd).",
        ),
        _c(
            "excess_p",
            _F,
            True,
            "Excess test (member x test interaction): Monte Carlo p of the null 'members differ on this row no "
            "more than their iid differences predict' (a slope >= 0 on the iid values; carry-over allowed), "
            "(1 + b)/(1 + B), from this metric's own per-example values (docs/methods.md §14.1).",
        ),
        _c(
            "excess_p_adj",
            _F,
            True,
            "excess_p after Benjamini-Hochberg over the non-reference rows of the audit (all metrics); null "
            "when FDR control is off.",
        ),
        _c("mean_difference", _F, True, "Ensemble mean on this row minus on the reference (iid) row."),
        _c(
            "mean_difference_ci_low",
            _F,
            True,
            "Multi-bootstrap percentile CI of that difference (members paired; examples paired where shared).",
        ),
        _c("mean_difference_ci_high", _F, True, "Upper end."),
        _c(
            "degraded_p",
            _F,
            True,
            "One-sided p that the mean is worse than on iid (bad direction of the metric), from the paired "
            "multi-bootstrap of the difference, (1 + b)/(1 + B) with b the replicates not worse "
            "(docs/methods.md §14.2).",
        ),
        _c(
            "degraded_p_adj",
            _F,
            True,
            "degraded_p after Benjamini-Hochberg over the non-reference rows of the audit (all metrics); null "
            "when FDR control is off.",
        ),
        _c("disagreement", _F, True, "Mean pairwise disagreement of predicted labels (classification)."),
        _c(
            "mean_ci_low",
            _F,
            True,
            "Multi-bootstrap percentile CI of the mean (additive metrics only: accuracy, error, top5_accuracy, nll, brier, mse, mae; docs/methods.md §11).",
        ),
        _c("mean_ci_high", _F, True, "Upper end."),
        _c("sd_ci_low", _F, True, "Multi-bootstrap percentile CI of the SD over members (every metric that can be resampled, docs/methods.md §11)."),
        _c("sd_ci_high", _F, True, "Upper end."),
        _c(
            "sd_ratio_ci_low",
            _F,
            True,
            "Multi-bootstrap percentile CI of the SD ratio (members paired with ref).",
        ),
        _c("sd_ratio_ci_high", _F, True, "Upper end."),
        _c(
            "jackknife_z",
            _F,
            True,
            "Two-sample z of sd vs ref_sd with jackknife SEs over examples (docs/methods.md §5).",
        ),
        _c("jackknife_p", _F, True, "One-sided p = P(Z >= z)."),
        _c("anova_f", _F, True, "One-way ANOVA F of member values by group (nested seeds, docs/methods.md §6)."),
        _c("anova_p", _F, True, "p-value from F(G-1, M-G)."),
        _c("between_group_share", _F, True, "SS_between / SS_total."),
        _c(
            "verdict",
            "string",
            False,
            "insufficient | underspecified | degraded | stable, per metric (docs/methods.md §14).",
        ),
        _c("verdict_reason", "string", False, "One sentence: the numbers the verdict was read from."),
    ],
    "correlations": [
        _c("ensemble", "string", False, "Ensemble name."),
        _c("metric", "string", False, "Metric name."),
        _c("test_a", "string", False, "First test."),
        _c("variant_a", "string", False, "Its variant."),
        _c("stratum_a", "string", False, "Its stratum."),
        _c("test_b", "string", False, "Second test."),
        _c("variant_b", "string", False, "Its variant."),
        _c("stratum_b", "string", False, "Its stratum."),
        _c("spearman", _F, True, "Spearman rho over members (pairwise complete)."),
        _c("pearson", _F, True, "Pearson r over members."),
        _c("n_members", "int64", False, "Members with values on both."),
    ],
    "calibration": [
        _c("ensemble", "string", False, "Ensemble name."),
        _c("member", "string", False, "Member name."),
        _c("test", "string", False, "Test name."),
        _c("variant", "string", False, "Variant."),
        _c("stratum", "string", False, "'all' or the stratum label."),
        _c("bin", "int64", False, "Bin index, 0-based."),
        _c("bin_lower", _F, False, "Lower edge of the confidence bin [l, u)."),
        _c("bin_upper", _F, False, "Upper edge (the last bin is closed at 1)."),
        _c("confidence", _F, True, "Mean top-label confidence in the bin (null when empty)."),
        _c("accuracy", _F, True, "Accuracy in the bin (null when empty)."),
        _c("count", "int64", False, "Examples in the bin."),
        _c("ece", _F, True, "Expected calibration error of the member on the stratum (repeated per bin)."),
        _c("brier", _F, True, "Brier score (summed over classes) of the member on the stratum."),
    ],
    "pca": [
        _c("ensemble", "string", False, "Ensemble name."),
        _c("test", "string", False, "Test name."),
        _c("variant", "string", False, "Variant."),
        _c("kind", "string", False, "explained | loading | score | attribute_corr | attribute_eta."),
        _c("component", "int64", False, "Principal component, 1-based."),
        _c("member", "string", True, "Member (loading rows)."),
        _c("example_id", "string", True, "Example id as text (score rows)."),
        _c(
            "value", _F, True, "Explained variance ratio, loading, score, Spearman rho with a numeric attribute (attribute_corr) or "
            "correlation ratio eta with a categorical one (attribute_eta)."
        ),
        _c("attribute", "string", True, "Attribute (attribute_corr and attribute_eta rows)."),
    ],
    "marginalization": [
        _c("ensemble", "string", False, "Ensemble name."),
        _c("test", "string", False, "Test name."),
        _c("variant", "string", False, "Variant."),
        _c("k", "int64", False, "Members averaged."),
        _c("metric", "string", False, "accuracy (classification) or mse (regression)."),
        _c("mean", _F, True, "Mean over random k-subsets of the averaged ensemble's metric."),
        _c("sd", _F, True, "SD over those subsets (ddof=1)."),
        _c("best_member_on_ref", "string", True, "Best single member on the reference test."),
        _c("best_ref_member_value", _F, True, "That member's value on this test."),
        _c("oracle_member_value", _F, True, "Best single member's value on this test (oracle choice)."),
        _c(
            "smallest_k_beating_best",
            "int64",
            True,
            "Smallest k whose mean beats best_ref_member_value; null if none.",
        ),
    ],
    "rex": [
        _c("ensemble", "string", False, "Ensemble name."),
        _c("member", "string", False, "Member name."),
        _c(
            "domain_set",
            "string",
            False,
            "Stratified test (domains = strata), perturbed test (domains = ref + variants) or 'shifted' (ref + shifted tests).",
        ),
        _c("risk", "string", False, "nll | error (classification) or mse (regression)."),
        _c("v_rex", _F, True, "Var_e(R_e) (ddof=0)."),
        _c("ri", _F, True, "max_e R_e."),
        _c("mm_rex", _F, True, "(1 - E lambda_min) max_e R_e + lambda_min sum_e R_e."),
        _c(
            "selected_by",
            "string",
            True,
            "Criteria (erm, v_rex, ri, mm_rex) selecting this member, comma-separated; null if none.",
        ),
    ],
    "disagreement": [
        _c("ensemble", "string", False, "Ensemble name."),
        _c("test", "string", False, "Test name."),
        _c("variant", "string", False, "Variant."),
        _c("stratum", "string", False, "'all' or the stratum label."),
        _c("disagreement", _F, True, "Mean pairwise disagreement of labels (classification)."),
        _c(
            "ambiguity",
            _F,
            True,
            "Share of examples where some member differs from the baseline (best on ref).",
        ),
        _c("discrepancy", _F, True, "Largest share on which one member differs from the baseline."),
        _c("mean_vote_entropy", _F, True, "Mean per-example entropy (nats) of the label votes."),
        _c(
            "sensitivity",
            _F,
            True,
            "Mean pairwise E[(f_m - f_m')^2] of true-class probability (classification) or prediction (regression).",
        ),
        _c(
            "sensitivity_ratio",
            _F,
            True,
            "sensitivity / mean member risk (regression: MSE; classification: mean (1 - p_true)^2).",
        ),
    ],
}


@dataclass(frozen=True)
class Block:
    """Many rows at once: ``n`` rows, each column an array of length ``n`` or a scalar (repeated)."""

    n: int
    columns: dict[str, Any]


def frame(table: str, rows: list[dict[str, Any] | Block]) -> pd.DataFrame:
    """A DataFrame with exactly the columns of ``table`` (order and dtypes); missing keys are null.

    ``rows`` holds single rows (dicts) and :class:`Block` s, in order.
    """
    cols = TABLES[table]
    values: dict[str, list[Any]] = {c.name: [] for c in cols}
    for r in rows:
        if isinstance(r, Block):
            for c in cols:
                v = r.columns.get(c.name)
                if isinstance(v, np.ndarray | list | tuple):
                    values[c.name].extend(np.asarray(v).tolist())
                else:
                    values[c.name].extend([v] * r.n)
        else:
            for c in cols:
                values[c.name].append(r.get(c.name))
    data: dict[str, Any] = {}
    for c in cols:
        vals = values[c.name]
        if c.type == "double":
            data[c.name] = pd.Series([np.nan if v is None else float(v) for v in vals], dtype="float64")
        elif c.type == "int64":
            s = pd.Series([None if v is None else int(v) for v in vals], dtype="Int64")
            data[c.name] = s if c.nullable else s.astype("int64")
        elif c.type == "bool":
            data[c.name] = pd.Series(vals, dtype="boolean" if c.nullable else "bool")
        else:
            data[c.name] = pd.Series([None if v is None else str(v) for v in vals], dtype="object")
    return pd.DataFrame(data, columns=[c.name for c in cols])


def arrow_schema(table: str):
    """The :class:`pyarrow.Schema` of ``table``."""
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "double": pa.float64(), "bool": pa.bool_()}
    return pa.schema([pa.field(c.name, types[c.type], nullable=c.nullable) for c in TABLES[table]])


def schema_document(table: str) -> dict[str, Any]:
    """The JSON document of ``schemas/tables/<table>.schema.json``."""
    return {
        "table": table,
        "columns": [
            {"name": c.name, "type": c.type, "nullable": c.nullable, "description": c.description}
            for c in TABLES[table]
        ],
    }


def write_schemas(folder=None) -> None:
    """Write ``schemas/tables/<table>.schema.json`` for every statistics table (a test fails on drift)."""
    import json
    from pathlib import Path

    out = Path(folder) if folder is not None else Path(__file__).resolve().parents[2] / "schemas" / "tables"
    out.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        text = json.dumps(schema_document(table), indent=2, ensure_ascii=False) + "\n"
        (out / f"{table}.schema.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":  # python -m uspec_audit.stats.tables
    write_schemas()
