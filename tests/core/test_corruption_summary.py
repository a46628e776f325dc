"""Corruption error and CE relative to a baseline (Hendrycks & Dietterich 2019), checked by hand."""

import numpy as np
import pandas as pd
import pytest

from uspec_audit.stats.corruption import corruption_summary


def _rows(ensemble, member, perturbation, accuracies):
    return [
        {
            "ensemble": ensemble,
            "member": member,
            "test": "c",
            "kind": "perturbed",
            "variant": f"{perturbation}@{s}",
            "perturbation": perturbation,
            "severity": s,
            "stratum": "all",
            "metric": "accuracy",
            "value": a,
        }
        for s, a in enumerate(accuracies, start=1)
    ]


def test_ce_against_hand_computation():
    metrics = pd.DataFrame(
        _rows("model", "m1", "fog", [0.9, 0.8])
        + _rows("model", "m2", "fog", [0.7, 0.6])
        + _rows("base", "b1", "fog", [0.8, 0.6])
        + _rows("base", "b2", "fog", [0.6, 0.6])
    )
    table = corruption_summary(metrics, {"c": "base"}).set_index(["ensemble", "perturbation"])
    # member errors summed: m1 0.1+0.2 = 0.3, m2 0.3+0.4 = 0.7; baseline mean errors 0.3, 0.4 -> sum 0.7
    assert table.loc[("model", "fog"), "relative_ce"] == pytest.approx(np.mean([0.3 / 0.7, 0.7 / 0.7]))
    assert table.loc[("model", "fog"), "relative_ce_sd"] == pytest.approx(np.std([0.3 / 0.7, 1.0], ddof=1))
    assert table.loc[("model", "fog"), "mean_error"] == pytest.approx(np.mean([0.15, 0.35]))
    assert table.loc[("base", "fog"), "relative_ce"] == pytest.approx(1.0)
    assert table.loc[("model", "mean"), "relative_ce"] == pytest.approx(
        table.loc[("model", "fog"), "relative_ce"]
    )


def test_without_baseline_ce_is_null():
    metrics = pd.DataFrame(_rows("model", "m1", "fog", [0.9, 0.8]) + _rows("model", "m2", "fog", [0.8, 0.8]))
    table = corruption_summary(metrics, {"c": None})
    assert table["relative_ce"].isna().all() and table["mean_error"].notna().all()
