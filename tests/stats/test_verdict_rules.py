"""The verdict rules, BH in the summary and the multi-bootstrap of the summary against naive recomputations."""

import numpy as np
import pytest
from scipy import stats as sps
from synthetic_audit import SyntheticAudit

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats.analyze import analyze
from uspec_audit.stats.bootstrap import example_index_chunks, percentile_ci
from uspec_audit.stats.examples import per_example
from uspec_audit.stats.seeding import rng_for
from uspec_audit.stats.settings import AnalysisSettings
from uspec_audit.stats.verdicts import VerdictInputs, verdict

SETTINGS = AnalysisSettings(permutations=1000, bootstrap=300, member_bootstrap=200, marginalization_subsets=5)
SEED = 11


@pytest.fixture(scope="module")
def result(synthetic_audit_module):
    audit = synthetic_audit_module
    return audit, analyze(audit.metrics, audit.load, audit.plan, SETTINGS, seed=SEED)["summary"]


def _inputs(**kw):
    base = dict(
        n_members=10,
        is_reference=False,
        excess_p=0.5,
        excess_sd=0.0,
        floor_sd=0.005,
        degraded_p=0.5,
        difference=0.0,
        difference_ci=(-0.01, 0.01),
        ratio=1.0,
        ratio_ci=(0.5, 1.5),
    )
    base.update(kw)
    return VerdictInputs(**base)


def test_verdict_rules():
    assert verdict(_inputs(n_members=4))[0] == "insufficient"  # below min_members = 5, whatever the tests say
    assert verdict(_inputs(n_members=4, excess_p=1e-6, excess_sd=1.0))[0] == "insufficient"
    assert verdict(_inputs(n_members=6, is_reference=True, excess_p=np.nan))[0] == "stable"
    assert verdict(_inputs(excess_p=0.01, excess_sd=0.02))[0] == "underspecified"
    assert verdict(_inputs(excess_p=0.01, excess_sd=0.004))[0] == "stable"  # significant but below the floor
    assert verdict(_inputs(excess_p=0.06, excess_sd=0.5))[0] == "stable"  # large but not significant
    assert verdict(_inputs(degraded_p=0.01, difference=-0.1, difference_ci=(-0.12, -0.08)))[0] == "degraded"
    assert verdict(_inputs(excess_p=0.01, excess_sd=0.02, degraded_p=0.01))[0] == "underspecified"
    assert verdict(_inputs(excess_p=np.nan, degraded_p=np.nan, note="why")) == (
        "insufficient",
        "no test possible: why",
    )
    assert verdict(_inputs(excess_p=0.049, excess_sd=0.02), alpha=0.01)[0] == "stable"
    assert verdict(_inputs(n_members=3), min_members=3)[0] == "stable"


def test_verdict_reasons_quote_the_numbers():
    v, reason = verdict(
        _inputs(excess_p=0.001, excess_sd=0.021, floor_sd=0.006, ratio=2.4, ratio_ci=(1.6, 3.5))
    )
    assert v == "underspecified"
    assert (
        "0.021" in reason
        and "0.006" in reason
        and "p_adj=0.001" in reason
        and "2.4x iid [1.6, 3.5]" in reason
    )
    v, reason = verdict(
        _inputs(degraded_p=0.0004, difference=-0.117, difference_ci=(-0.15, -0.09), adjusted=False)
    )
    assert v == "degraded" and "-0.117" in reason and "degraded p=0.0004" in reason
    assert "min_members = 5" in verdict(_inputs(n_members=2))[1]


def test_bh_columns_are_bh_of_the_raw_columns(result):
    _, s = result
    ref = (s.test == "iid") & (s.stratum == "all")
    for col in ("excess_p", "degraded_p"):
        fam = s[~ref & s[col].notna()]
        np.testing.assert_allclose(fam[f"{col}_adj"], sps.false_discovery_control(fam[col]), rtol=1e-12)
        assert s.loc[ref, f"{col}_adj"].isna().all()
    # perm_p: one p per unit (the same for every metric), the reference unit included
    units = s.drop_duplicates(["ensemble", "test", "variant", "stratum"])
    adj = dict(
        zip(
            units.apply(lambda r: (r.test, r.stratum, r.variant), axis=1),
            sps.false_discovery_control(units["perm_p"]),
            strict=True,
        )
    )
    for r in s.itertuples():
        assert r.perm_p_adj == pytest.approx(adj[(r.test, r.stratum, r.variant)])
    iid = s[ref].iloc[0]
    assert iid.perm_p_adj != iid.perm_p  # the iid row is adjusted too, never the raw value under a BH label


def test_without_fdr_the_adjusted_columns_are_null_and_verdicts_use_raw_p(synthetic_audit):
    audit = synthetic_audit
    s = analyze(audit.metrics, audit.load, audit.plan, SETTINGS.model_copy(update={"fdr": False}), SEED)[
        "summary"
    ]
    assert s[["perm_p_adj", "excess_p_adj", "degraded_p_adj"]].isna().all().all()
    assert s["perm_p"].notna().all()
    row = s[(s.test == "shift") & (s.metric == "accuracy")].iloc[0]
    assert row.verdict == "underspecified" and f"excess p={row.excess_p:.2g}" in row.verdict_reason


def test_summary_multi_bootstrap_resamples_members_and_examples(result):
    """The mean CI of accuracy on the shifted test, recomputed replicate by replicate."""
    audit, s = result
    ps = audit.sets[("shift", "none")]
    x = per_example(ps, "accuracy")
    m, n = x.shape
    idx_m = rng_for(SEED, "multiboot-members", "cnn").integers(0, m, size=(SETTINGS.bootstrap, m))
    rng = rng_for(SEED, "multiboot-examples", "cnn", "shift", "none", "all")
    step = max(1, min(500, 10_000_000 // n))
    idx_e = np.vstack(list(example_index_chunks(n, SETTINGS.bootstrap, rng, None, step)))
    means = np.array([x[idx_m[b]][:, idx_e[b]].mean() for b in range(SETTINGS.bootstrap)])
    row = s[(s.test == "shift") & (s.metric == "accuracy")].iloc[0]
    assert (row.mean_ci_low, row.mean_ci_high) == pytest.approx(percentile_ci(means))
    # without member resampling the interval is narrower: the members' spread is part of the uncertainty
    examples_only = percentile_ci(np.array([x[:, idx_e[b]].mean() for b in range(SETTINGS.bootstrap)]))
    assert examples_only[1] - examples_only[0] < 0.8 * (row.mean_ci_high - row.mean_ci_low)


@pytest.fixture(scope="module")
def strata_of_iid():
    """The synthetic audit with its stratified test on the iid test's own predictions."""
    audit = SyntheticAudit()
    iid = audit.sets[("iid", "none")]
    audit.sets[("skin", "none")] = PredictionSet(
        **{**{f: getattr(iid, f) for f in iid.__dataclass_fields__}, "test": "skin"}
    )
    audit.metrics = audit._metrics()
    return audit, analyze(audit.metrics, audit.load, audit.plan, SETTINGS, seed=SEED)["summary"]


def test_strata_of_the_iid_data_are_compared_paired_with_iid(strata_of_iid):
    """stratum - iid from strata resampled within themselves; the iid replicate is their weighted sum."""
    audit, s = strata_of_iid
    ps = audit.sets[("skin", "none")]
    x = per_example(ps, "accuracy")
    m, n = x.shape
    labels = np.array([f"fitz={v}" for v in ps.attributes["fitz"]])
    idx_m = rng_for(SEED, "multiboot-members", "cnn").integers(0, m, size=(SETTINGS.bootstrap, m))
    strata = {}
    for lab in sorted(set(labels)):
        cols = np.flatnonzero(labels == lab)
        rng = rng_for(SEED, "multiboot-examples", "cnn", "skin", "none", lab)
        step = max(1, min(500, 10_000_000 // cols.size))
        ie = np.vstack(list(example_index_chunks(cols.size, SETTINGS.bootstrap, rng, None, step)))
        strata[lab] = (
            cols.size,
            np.array([x[idx_m[b]][:, cols[ie[b]]].mean() for b in range(SETTINGS.bootstrap)]),
        )
    whole = sum(k / n * reps for k, reps in strata.values())
    for lab, (_, reps) in strata.items():
        row = s[(s.test == "skin") & (s.stratum == lab) & (s.metric == "accuracy")].iloc[0]
        diff = reps - whole
        assert (row.mean_difference_ci_low, row.mean_difference_ci_high) == pytest.approx(percentile_ci(diff))
        assert row.degraded_p == pytest.approx((1 + np.count_nonzero(diff >= 0)) / (1 + diff.size))
        iid = s[(s.test == "iid") & (s.metric == "accuracy")].iloc[0]
        assert row.mean_difference == pytest.approx(row["mean"] - iid["mean"])


def test_systematic_sd_and_corrected_ratio_from_the_rows(result):
    audit, s = result
    x_iid = per_example(audit.sets[("iid", "none")], "nll")
    x_shift = per_example(audit.sets[("shift", "none")], "nll")

    def systematic(x):
        m, n = x.shape
        resid = x - x.mean(1, keepdims=True) - x.mean(0, keepdims=True) + x.mean()
        ms_res = (resid**2).sum() / ((m - 1) * (n - 1))
        return np.var(x.mean(1), ddof=1) - ms_res / n, ms_res / n

    sys_iid, noise_iid = systematic(x_iid)
    sys_shift, noise_shift = systematic(x_shift)
    row = s[(s.test == "shift") & (s.metric == "nll")].iloc[0]
    assert row.noise_sd == pytest.approx(np.sqrt(noise_shift))
    assert row.systematic_sd == pytest.approx(np.sqrt(max(sys_shift, 0)))
    assert row.ref_systematic_sd == pytest.approx(np.sqrt(max(sys_iid, 0)))
    scale = max(np.sqrt(max(sys_iid, 0)), np.sqrt(noise_iid))
    assert row.sd_ratio_corrected == pytest.approx(np.sqrt(max(sys_shift, 0)) / scale)
    assert row.excess_floor == pytest.approx(SETTINGS.min_excess_ratio * scale)
    assert row.sd_ratio_corrected_ci_low <= row.sd_ratio_corrected_ci_high
    assert np.isfinite(s["sd_ratio_corrected"].dropna()).all()
