"""The multi-bootstrap differences table against hand computations and known nulls."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats.differences import differences
from uspec_audit.stats.plan import AnalysisPlan, EnsemblePlan, TestPlan
from uspec_audit.stats.settings import AnalysisSettings


def _set(ensemble, test, probs, target, ids):
    return PredictionSet(
        ensemble=ensemble,
        test=test,
        variant="none",
        task="multiclass",
        members=[f"m{i}" for i in range(len(probs))],
        ids=ids,
        target=target,
        outputs=probs,
    )


def _world(seed=0, members=6, n=400, harm=0.3):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 2, n)
    ids = np.arange(n)

    def probs(noise):
        logits = (target[None, :] * 2 - 1) * (1.5 + rng.normal(0, noise, size=(members, n)))
        p = 1 / (1 + np.exp(-logits))
        return np.stack([1 - p, p], axis=-1)

    clean = probs(1.0)
    flip = rng.random((members, n)) < harm
    shifted = np.where(flip[..., None], clean[..., ::-1], clean)
    return {
        ("a", "iid"): _set("a", "iid", clean, target, ids),
        ("a", "shift"): _set("a", "shift", shifted, target, ids),
        ("b", "iid"): _set("b", "iid", clean.copy(), target, ids),
        ("b", "shift"): _set("b", "shift", shifted.copy(), target, ids),
    }


def _plan():
    tests = (
        TestPlan("iid", "iid", ("a", "b"), ("accuracy", "nll")),
        TestPlan("shift", "shifted", ("a", "b"), ("accuracy",), rex_domains="pooled"),
    )
    ensembles = tuple(EnsemblePlan(e, "binary", tuple(f"m{i}" for i in range(6)), "iid") for e in ("a", "b"))
    return AnalysisPlan(ensembles, tests, {"accuracy": True, "nll": False})


def test_test_vs_reference_matches_hand_difference_and_is_significant():
    world = _world()
    table = differences(lambda e, t, v: world[(e, t)], _plan(), AnalysisSettings(bootstrap=500), seed=3)
    row = table.query("comparison == 'test_vs_reference' and ensemble_a == 'a' and statistic == 'mean'").iloc[
        0
    ]
    hand = world[("a", "shift")].correct.mean() - world[("a", "iid")].correct.mean()
    assert row["difference"] == pytest.approx(hand)
    # shift is clearly worse: no replicate at or above zero, so the smallest two-sided p, never 0
    assert row["ci_high"] < 0 and row["p_value"] == pytest.approx(2 / 501)
    assert row["paired_examples"] and row["paired_members"]


def test_p_adj_is_bh_of_the_p_value_shown():
    world = _world(harm=0.05)
    table = differences(lambda e, t, v: world[(e, t)], _plan(), AnalysisSettings(bootstrap=400), seed=5)
    assert len(table) >= 6 and table["p_value"].gt(0).all() and table["p_value"].le(1).all()
    np.testing.assert_allclose(table["p_adj"], sps.false_discovery_control(table["p_value"]), rtol=1e-12)
    assert (table["p_adj"] >= table["p_value"]).all()
    off = differences(
        lambda e, t, v: world[(e, t)], _plan(), AnalysisSettings(bootstrap=400, fdr=False), seed=5
    )
    assert off["p_adj"].isna().all()
    np.testing.assert_allclose(off["p_value"], table["p_value"])


def test_two_sided_p_value_from_the_replicates():
    """Same ensemble on a test that equals the reference for half the members' examples: p from both tails."""
    world = _world(harm=0.0)  # the shifted test is the reference itself: every difference replicate is 0
    table = differences(lambda e, t, v: world[(e, t)], _plan(), AnalysisSettings(bootstrap=300), seed=1)
    rows = table.query("comparison == 'test_vs_reference' and statistic == 'mean'")
    assert (rows["difference"] == 0).all() and (rows["p_value"] == 1.0).all()


def test_identical_ensembles_differ_by_zero():
    world = _world()
    table = differences(lambda e, t, v: world[(e, t)], _plan(), AnalysisSettings(bootstrap=300), seed=3)
    rows = table.query("comparison == 'ensemble_vs_ensemble' and statistic == 'mean'")
    assert len(rows) and (rows["difference"].abs() < 1e-12).all()
    assert ((rows["ci_low"] <= 0) & (rows["ci_high"] >= 0)).all()


def test_reproducible_and_off_when_bootstrap_is_zero():
    world = _world()
    load = lambda e, t, v: world[(e, t)]  # noqa: E731
    first = differences(load, _plan(), AnalysisSettings(bootstrap=200), seed=9)
    second = differences(load, _plan(), AnalysisSettings(bootstrap=200), seed=9)
    assert first.equals(second)
    assert differences(load, _plan(), AnalysisSettings(bootstrap=0), seed=9).empty
