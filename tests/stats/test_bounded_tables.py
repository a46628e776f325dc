"""Memory and table size of the statistics stay bounded as strata and members grow (docs/methods.md §2, §9)."""

import numpy as np
import pandas as pd
import pytest
from builders import basic_audit
from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats import flips
from uspec_audit.stats.analyze import analyze, correlation_pairs
from uspec_audit.stats.correlation import pair_correlations, spearman_matrix
from uspec_audit.stats.plan import AnalysisPlan, EnsemblePlan, TestPlan
from uspec_audit.stats.settings import AnalysisSettings


def test_correlation_pairs_grow_linearly_with_the_strata():
    ref = ("iid", "none", "all")
    strata = [("skin", "none", f"s={i}") for i in range(5000)]
    units = [ref, ("skin", "none", "all"), ("shift", "none", "all"), *strata]
    pairs, notes = correlation_pairs(units, ref, cap=200)
    # whole rows: 3 x 3; each stratum: itself, its whole test and the reference, both ways
    assert len(pairs) == 9 + 5000 * 5 - 0
    assert len(pairs) < 10 * len(units) and any("5000 strata" in n for n in notes)
    small, notes = correlation_pairs(units[:3] + strata[:10], ref, cap=200)
    assert len(small) == 9 + 10 * 10 + 10 * 4 and not notes  # strata of one test pair with each other


def test_pair_correlations_equal_the_full_matrix():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(9, 40))
    a, b = rng.integers(0, 40, 300), rng.integers(0, 40, 300)
    for method in ("spearman", "pearson"):
        full = spearman_matrix(v, method)
        np.testing.assert_allclose(pair_correlations(v, a, b, method), full[a, b], atol=1e-12)
    v[2, 5] = np.nan
    np.testing.assert_allclose(pair_correlations(v, a, b), spearman_matrix(v)[a, b], atol=1e-12)


def _many_strata_audit(n_strata=400, per=5, m=5):
    rng = np.random.default_rng(1)
    n = n_strata * per
    y = rng.integers(0, 2, n)
    p1 = np.clip(y[None, :] * 0.6 + 0.2 + rng.normal(0, 0.25, (m, n)), 0.01, 0.99)
    labels = np.repeat(np.arange(n_strata), per)
    members = [f"m{i}" for i in range(m)]
    ps = PredictionSet(
        "e",
        "iid",
        "none",
        "binary",
        members,
        np.arange(n),
        y,
        np.stack([1 - p1, p1], -1),
        attributes={"site": labels},
    )
    by = PredictionSet(**{**{f: getattr(ps, f) for f in ps.__dataclass_fields__}, "test": "site"})
    correct = ps.correct
    rows = []
    for test, parts in (
        ("iid", [("all", np.ones(n, bool))]),
        ("site", [("all", np.ones(n, bool))] + [(f"site={s}", labels == s) for s in range(n_strata)]),
    ):
        for stratum, mask in parts:
            acc = correct[:, mask].mean(axis=1)
            rows += [
                dict(
                    ensemble="e",
                    member=members[i],
                    group=None,
                    test=test,
                    kind=test,
                    variant="none",
                    perturbation=None,
                    severity=None,
                    stratum=stratum,
                    n=int(mask.sum()),
                    metric="accuracy",
                    value=float(acc[i]),
                )
                for i in range(m)
            ]
    metrics = pd.DataFrame(rows)
    metrics["severity"] = metrics["severity"].astype("Int64")
    plan = AnalysisPlan(
        (EnsemblePlan("e", "binary", tuple(members), "iid"),),
        (
            TestPlan("iid", "iid", ("e",), ("accuracy",)),
            TestPlan("site", "stratified", ("e",), ("accuracy",), by=("site",), compare_with_reference=False),
        ),
        {"accuracy": True},
    )
    return metrics, {"iid": ps, "site": by}, plan


def test_many_strata_analysis_stays_linear():
    """400 strata of 5 examples (the same bound holds for 5,000: the table is linear in the strata)."""
    metrics, sets, plan = _many_strata_audit()
    notes: list[str] = []
    settings = AnalysisSettings(
        permutations=50,
        bootstrap=50,
        member_bootstrap=10,
        marginalization_subsets=1,
        pca_scores=False,
        max_correlation_units=50,
    )
    tables = analyze(metrics, lambda e, t, v: sets[t], plan, settings, seed=0, notes=notes)
    units = 2 + 400  # iid, the stratified test as a whole, its strata
    assert len(tables["correlations"]) <= 5 * units  # not units**2 = 162,409
    assert any("400 strata > max_correlation_units = 50" in n for n in notes)
    s = tables["summary"]
    assert len(s) == units and s["verdict"].notna().all()


def test_flip_overlap_is_chunked_exactly_and_bounded_in_members():
    rng = np.random.default_rng(2)
    f = rng.random((6, 150_000)) < 0.1  # more examples than one block
    dense = f.astype(np.float64) @ f.astype(np.float64).T
    np.testing.assert_allclose(flips.flip_overlap(f), dense / np.diag(dense)[:, None])
    m = flips.MAX_OVERLAP_MEMBERS + 20
    g = rng.random((m, 200)) < 0.2
    table = flips.flips_table("e", "t", "v", [f"m{i}" for i in range(m)], label_flips=g)
    assert not (table["kind"] == "overlap").any()
    means = table[table["kind"] == "overlap_mean"].set_index("member")["value"]
    assert len(means) == m
    ov = flips.flip_overlap(g)
    np.fill_diagonal(ov, np.nan)
    assert means["m3"] == pytest.approx(np.nanmean(ov[3]))
    small = flips.flips_table("e", "t", "v", ["a", "b", "c"], label_flips=g[:3])
    assert (small["kind"] == "overlap").sum() == 9


def test_huge_sizes_in_the_audit_file_are_validation_errors(digits_world, tmp_path):
    path = basic_audit(digits_world, tmp_path, analysis="calibration_bins = 2e9")
    text = path.read_text()
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    line = [s.strip() for s in text.splitlines()].index("calibration_bins = 2e9") + 1
    assert "analysis.calibration_bins" in result.output and f"audit.toml:{line}" in result.output
    assert "Traceback" not in result.output
