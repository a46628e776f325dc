"""Corruption errors averaged over severities, and relative to a baseline ensemble (mCE).

Hendrycks & Dietterich (2019) summarise a model on a corruption c by its error
summed over severities s, divided by a baseline model's:
``CE_c = Σ_s E_s,c / Σ_s E_s,c(baseline)``, and mCE = mean over corruptions.
Here every member gets its own CE against the baseline ensemble's mean error,
so the spread of CE across members is reported too. Errors are ``1 −
accuracy`` from the per-member metrics table (stratum ``all``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from uspec_audit.results.catalog import column_names

COLUMNS = column_names("corruptions")


def corruption_summary(metrics: pd.DataFrame, baselines: dict[str, str | None]) -> pd.DataFrame:
    """One row per (ensemble, perturbed test, perturbation), plus a ``mean`` row per (ensemble, test).

    ``baselines`` maps each perturbed test's name to its baseline ensemble (or None); other tests are left out.
    """
    tests = metrics["test"].isin(list(baselines))
    rows = metrics[tests & (metrics["metric"] == "accuracy") & (metrics["stratum"] == "all")]
    if rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = rows.assign(error=1.0 - rows["value"])
    # per member: summed and mean error over severities of each perturbation
    per_member = (
        rows.groupby(["ensemble", "test", "perturbation", "member"], sort=True)
        .agg(summed=("error", "sum"), mean=("error", "mean"), n_severities=("severity", "nunique"))
        .reset_index()
    )
    # each ensemble's mean error per (test, perturbation, severity), summed over severities: CE's denominator
    ensemble_sums = (
        rows.groupby(["ensemble", "test", "perturbation", "severity"])["error"]
        .mean()
        .groupby(["ensemble", "test", "perturbation"])
        .sum()
    )
    out = []
    for (ensemble, test, perturbation), part in per_member.groupby(
        ["ensemble", "test", "perturbation"], sort=True
    ):
        baseline = baselines.get(test)
        relative = np.full(len(part), np.nan)
        if baseline is not None and (baseline, test, perturbation) in ensemble_sums.index:
            denominator = ensemble_sums.loc[(baseline, test, perturbation)]
            if denominator > 0:
                relative = part["summed"].to_numpy() / denominator
        out.append(
            {
                "ensemble": ensemble,
                "test": test,
                "perturbation": perturbation,
                "n_severities": int(part["n_severities"].max()),
                "mean_error": float(part["mean"].mean()),
                "sd_error": float(part["mean"].std(ddof=1)) if len(part) > 1 else np.nan,
                "min_member_error": float(part["mean"].min()),
                "max_member_error": float(part["mean"].max()),
                "baseline": baseline,
                "relative_ce": float(np.mean(relative)) if np.isfinite(relative).any() else np.nan,
                "relative_ce_sd": float(np.std(relative, ddof=1))
                if len(part) > 1 and np.isfinite(relative).all()
                else np.nan,
            }
        )
    frame = pd.DataFrame(out, columns=COLUMNS)
    means = (
        frame.groupby(["ensemble", "test"], sort=True)
        .agg(
            n_severities=("n_severities", "max"),
            mean_error=("mean_error", "mean"),
            relative_ce=("relative_ce", "mean"),
            baseline=("baseline", "first"),
        )
        .reset_index()
    )
    means["perturbation"] = "mean"
    frame = pd.concat([frame, means.reindex(columns=COLUMNS)], ignore_index=True)
    frame["n_severities"] = frame["n_severities"].astype(np.int64)
    return frame[COLUMNS]
