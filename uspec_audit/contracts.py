"""Contracts: user bounds on the ensemble statistics, checked after the run (exit code 1 on FAIL).

Bounds (``[tests.contract]``): ``max_sd_ratio`` (every metric), ``min_mean``,
``max_mean``, ``max_sd`` and ``min_worst`` (per metric), ``max_flip_rate``
(contrastive tests). ``min_worst`` bounds the worst member: at least the
bound for a metric where higher is better, at most the bound where lower is
better. A statistic that cannot be computed (one member, an empty stratum)
FAILs: an unverifiable bound is not a pass. ``strata = "each"`` checks every
stratum and variant, ``"all"`` only the whole test.
"""

from __future__ import annotations

import math

import pandas as pd

from uspec_audit.config.models import StressTest

COLUMNS = ["ensemble", "test", "variant", "stratum", "metric", "contract", "bound", "observed", "status", "message"]


def _row(summary_row, contract: str, bound: float, observed: float, ok_when, metric: str | None = None) -> dict:
    if observed is None or (isinstance(observed, float) and math.isnan(observed)):
        status, message = "FAIL", f"{contract}: the statistic could not be computed, so the bound {bound} is unverified"
        observed = float("nan")
    else:
        ok = ok_when(observed, bound)
        status = "PASS" if ok else "FAIL"
        message = f"{contract}: observed {observed:.4g} {'within' if ok else 'violates'} bound {bound:g}"
    return {
        "ensemble": summary_row["ensemble"], "test": summary_row["test"], "variant": summary_row["variant"],
        "stratum": summary_row["stratum"], "metric": metric or summary_row.get("metric"), "contract": contract,
        "bound": float(bound), "observed": float(observed), "status": status, "message": message,
    }


def check_contracts(tests: list[StressTest], summary: pd.DataFrame, flips: pd.DataFrame | None,
                    higher_is_better: dict[str, bool]) -> pd.DataFrame:
    """One row per (bound, ensemble, variant, stratum, metric) with PASS/FAIL."""
    rows: list[dict] = []
    le = lambda observed, bound: observed <= bound  # noqa: E731
    ge = lambda observed, bound: observed >= bound  # noqa: E731
    for test in tests:
        contract = test.contract
        if contract is None:
            continue
        part = summary[summary["test"] == test.name]
        if contract.strata == "all":
            part = part[part["stratum"] == "all"]
        for _, row in part.iterrows():
            metric = row["metric"]
            if contract.max_sd_ratio is not None and not (test.kind == "iid" and row["stratum"] == "all"):
                rows.append(_row(row, "max_sd_ratio", contract.max_sd_ratio, row["sd_ratio"], le))
            if metric in contract.min_mean:
                rows.append(_row(row, "min_mean", contract.min_mean[metric], row["mean"], ge))
            if metric in contract.max_mean:
                rows.append(_row(row, "max_mean", contract.max_mean[metric], row["mean"], le))
            if metric in contract.max_sd:
                rows.append(_row(row, "max_sd", contract.max_sd[metric], row["sd"], le))
            if metric in contract.min_worst:
                better = higher_is_better.get(metric, True)
                rows.append(_row(row, "min_worst", contract.min_worst[metric], row["worst_value"], ge if better else le))
        if contract.max_flip_rate is not None and flips is not None and len(flips):
            rates = flips[(flips["test"] == test.name) & (flips["kind"] == "rate")]
            for _, row in rates.iterrows():
                data = {"ensemble": row["ensemble"], "test": test.name, "variant": row["variant"], "stratum": "all"}
                rows.append(_row(data, "max_flip_rate", contract.max_flip_rate, row["value"], le,
                                 metric=f"flip_rate[{row['member']}]"))
    return pd.DataFrame(rows, columns=COLUMNS)
