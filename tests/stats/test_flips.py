"""Tests of the contrastive flip statistics (docs/methods.md §9) against hand-worked answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats.flips import (
    FLIPS_COLUMNS,
    calibrate_thresholds,
    decision_flip_direction,
    decision_flips,
    flip_overlap,
    flip_sharing,
    flips_table,
    label_flips,
    matched_set_flips_table,
    paired_flips_table,
    relative_risk_change,
    set_abs_change,
    set_label_flips,
)

# --------------------------------------------------------------------------- thresholds


def test_positive_rate_threshold_by_hand():
    scores = np.array(
        [
            [0.1, 0.9, 0.3, 0.7, 0.5, 0.2, 0.8, 0.4, 0.6, 0.0],
            [5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0, -4.0],
        ]
    )
    y = np.zeros(10, dtype=int)
    tau = calibrate_thresholds(scores, y, "positive_rate", 0.3)  # k = 3: third largest score
    np.testing.assert_array_equal(tau, [0.7, 3.0])
    assert ((scores >= tau[:, None]).mean(axis=1) == 0.3).all()
    tau = calibrate_thresholds(scores, y, "positive_rate", 0.25)  # k = ceil(2.5) = 3
    np.testing.assert_array_equal(tau, [0.7, 3.0])
    # against np.quantile where v * n is not an integer (inverted CDF at 1 - v)
    rng = np.random.default_rng(0)
    s = rng.normal(size=(4, 101))
    tau = calibrate_thresholds(s, np.zeros(101, int), "positive_rate", 0.17)
    np.testing.assert_array_equal(tau, np.quantile(s, 1 - 0.17, axis=1, method="inverted_cdf"))
    assert np.isinf(calibrate_thresholds(s, np.zeros(101, int), "positive_rate", 0.0)).all()
    np.testing.assert_array_equal(
        calibrate_thresholds(s, np.zeros(101, int), "positive_rate", 1.0), s.min(axis=1)
    )


def test_recall_threshold_by_hand():
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]])
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])  # positives score 0.9, 0.7, 0.5, 0.3
    np.testing.assert_array_equal(calibrate_thresholds(scores, y, "recall", 0.5), [0.7])
    np.testing.assert_array_equal(calibrate_thresholds(scores, y, "recall", 0.6), [0.5])
    np.testing.assert_array_equal(calibrate_thresholds(scores, y, "recall", 1.0), [0.3])
    assert np.isnan(calibrate_thresholds(scores, np.zeros(8, int), "recall", 0.5)).all()


def test_precision_threshold_by_hand():
    # sorted by score: labels 1 1 0 1 0 0 1 0; precision at k: 1, 1, 2/3, 3/4, 3/5, 1/2, 4/7, 1/2
    scores = np.array([[0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]])
    y = np.array([1, 1, 0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(calibrate_thresholds(scores, y, "precision", 0.75), [0.7])
    np.testing.assert_array_equal(calibrate_thresholds(scores, y, "precision", 0.55), [0.4])
    np.testing.assert_array_equal(calibrate_thresholds(scores, y, "precision", 0.5), [0.3])
    np.testing.assert_array_equal(calibrate_thresholds(scores, y, "precision", 1.0), [0.9])
    # ties: a threshold can only sit below a whole tie group
    tied = np.array([[0.9, 0.5, 0.5, 0.5, 0.1]])
    yt = np.array([1, 1, 0, 0, 1])
    # (precision at the group ends: 1 at 0.9, 2/4 at 0.5, 3/5 at 0.1; not 2/2 inside the 0.5 group)
    np.testing.assert_array_equal(calibrate_thresholds(tied, yt, "precision", 0.7), [0.9])
    np.testing.assert_array_equal(calibrate_thresholds(tied, yt, "precision", 0.6), [0.1])
    unreachable = calibrate_thresholds(np.array([[0.9, 0.1]]), np.array([0, 0]), "precision", 0.5)
    assert np.isnan(unreachable).all()


def test_threshold_input_errors():
    with pytest.raises(ValueError, match="binary"):
        calibrate_thresholds(np.zeros((1, 3)), np.array([0, 1, 2]), "recall", 0.5)
    with pytest.raises(ValueError, match="shape"):
        calibrate_thresholds(np.zeros((1, 3)), np.array([0, 1]), "recall", 0.5)
    with pytest.raises(ValueError, match="unknown threshold target"):
        calibrate_thresholds(np.zeros((1, 3)), np.array([0, 1, 1]), "f1", 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        calibrate_thresholds(np.zeros((1, 3)), np.array([0, 1, 1]), "recall", 1.5)


# --------------------------------------------------------------------------- flips


def test_decision_and_label_flips():
    so = np.array([[0.2, 0.6, 0.5, 0.9], [0.2, 0.6, 0.5, 0.9]])
    sc = np.array([[0.6, 0.4, 0.5, 0.95], [0.3, 0.4, 0.1, 0.95]])
    tau = np.array([0.5, 0.25])
    d = decision_flip_direction(so, sc, tau)
    np.testing.assert_array_equal(d, [[1, -1, 0, 0], [1, 0, -1, 0]])
    np.testing.assert_array_equal(decision_flips(so, sc, tau), d != 0)
    np.testing.assert_array_equal(decision_flips(so, sc, np.array([np.nan, 0.25]))[0], False)
    np.testing.assert_array_equal(label_flips([[0, 1, 2]], [[0, 2, 2]]), [[False, True, False]])
    with pytest.raises(ValueError, match="same shape"):
        label_flips([[0, 1]], [[0, 1, 2]])


def test_overlap_hand_example():
    flips = np.zeros((3, 6), dtype=bool)
    flips[0, [1, 2, 3]] = True
    flips[1, [3, 4]] = True
    ov = flip_overlap(flips)
    assert ov[0, 1] == pytest.approx(1 / 3) and ov[1, 0] == pytest.approx(1 / 2)
    assert ov[0, 0] == 1 and ov[1, 1] == 1
    assert np.isnan(ov[2]).all() and (ov[:2, 2] == 0).all()
    share = flip_sharing(flips)
    assert share["all"] == 0 and share["one"] == 3 and share["any"] == 4 and share["n"] == 6
    np.testing.assert_array_equal(share["by_k"], [2, 3, 1, 0])
    assert flip_sharing(np.ones((2, 5), bool))["all"] == 5


@settings(max_examples=60, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 6), st.integers(0, 40))), st.randoms(use_true_random=False))
def test_overlap_properties(flips, rnd):
    ov = flip_overlap(flips)
    counts = flips.sum(axis=1)
    assert (np.diag(ov)[counts > 0] == 1).all()
    assert np.isnan(ov[counts == 0]).all()
    assert ((ov[counts > 0] >= 0) & (ov[counts > 0] <= 1)).all()
    perm = list(range(flips.shape[1]))
    rnd.shuffle(perm)
    shuffled = flips[:, perm]
    np.testing.assert_array_equal(flip_overlap(shuffled), ov)
    a, b = flip_sharing(flips), flip_sharing(shuffled)
    assert {k: v for k, v in a.items() if k != "by_k"} == {k: v for k, v in b.items() if k != "by_k"}
    np.testing.assert_array_equal(a["by_k"], b["by_k"])
    # |F_m ∩ F_m'| is symmetric: ov[m, m'] |F_m| == ov[m', m] |F_m'|
    inter = np.nan_to_num(ov) * counts[:, None]
    np.testing.assert_allclose(inter, inter.T)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 30), st.integers(0, 2**32 - 1))
def test_flip_counts_invariant_to_order(m, n, seed):
    rng = np.random.default_rng(seed)
    so, sc = rng.random((m, n)), rng.random((m, n))
    tau = rng.random(m)
    perm = rng.permutation(n)
    f = decision_flips(so, sc, tau)
    np.testing.assert_array_equal(decision_flips(so[:, perm], sc[:, perm], tau).sum(1), f.sum(1))


# --------------------------------------------------------------------------- matched sets


def test_set_flips_hand_example():
    # sets: A = rows 0,1 ; B = rows 2,3,4 ; C = row 5 (singleton, left out)
    set_ids = np.array(["A", "A", "B", "B", "B", "C"])
    labels = np.array([[0, 0, 1, 1, 2, 0], [1, 0, 1, 1, 1, 1]])
    flipped, kept = set_label_flips(labels, set_ids)
    assert kept.tolist() == ["A", "B"]
    np.testing.assert_array_equal(flipped, [[False, True], [True, False]])
    # rows in another order give the same answer
    perm = np.array([4, 1, 5, 0, 3, 2])
    f2, k2 = set_label_flips(labels[:, perm], set_ids[perm])
    np.testing.assert_array_equal(f2, flipped)
    # with a designated original: same flip definition
    orig = np.array([True, False, True, False, False, True])
    f3, _ = set_label_flips(labels, set_ids, orig)
    np.testing.assert_array_equal(f3, flipped)


def test_set_abs_change_hand_example():
    set_ids = np.array([1, 1, 2, 2, 2, 3])
    p = np.array([[0.9, 0.6, 0.2, 0.5, 0.8, 0.1]])
    change, kept = set_abs_change(p, set_ids)
    assert kept.tolist() == [1, 2]
    # set 1: |0.9 - 0.6| ; set 2: pairs (0.3 + 0.6 + 0.3) / 3
    np.testing.assert_allclose(change, [[0.3, 0.4]])
    orig = np.array([True, False, False, True, False, True])
    change, _ = set_abs_change(p, set_ids, orig)  # set 2 original 0.5: (0.3 + 0.3) / 2
    np.testing.assert_allclose(change, [[0.3, 0.3]])
    rng = np.random.default_rng(3)
    big_ids = rng.integers(0, 30, 200)
    q = rng.random((3, 200))
    ch, kept = set_abs_change(q, big_ids)
    for j, sid in enumerate(kept):
        v = q[:, big_ids == sid]
        pairs = np.abs(v[:, :, None] - v[:, None, :]).sum(axis=(1, 2)) / 2
        k = v.shape[1]
        np.testing.assert_allclose(ch[:, j], pairs / (k * (k - 1) / 2))
    with pytest.raises(ValueError, match="exactly one original"):
        set_abs_change(p, set_ids, np.zeros(6, bool))


# --------------------------------------------------------------------------- risk change and table


def test_relative_risk_change():
    so = np.array([[0.1, 0.2, 0.4, 0.0, 0.5], [0.1, 0.1, 0.1, 0.1, 0.1]])
    sc = np.array([[0.2, 0.1, 0.4, 0.3, 0.5], [0.1, 0.1, 0.1, 0.1, 0.2]])
    out = relative_risk_change(so, sc, quantiles=(0.5,))
    rel0 = np.array([1.0, -0.5, 0.0, 0.0])  # the zero original is left out
    assert out["q50"][0] == pytest.approx(np.quantile(rel0, 0.5))
    assert out["mean"][0] == pytest.approx(rel0.mean()) and out["n"].tolist() == [4, 5]
    assert out["mean"][1] == pytest.approx(0.2)
    full = relative_risk_change(so, sc)
    assert list(full) == ["q10", "q25", "q50", "q75", "q90", "mean", "n"]


def test_flips_table_columns_and_values():
    members = ["m0", "m1", "m2"]
    lf = np.zeros((3, 6), bool)
    lf[0, [1, 2, 3]] = True
    lf[1, [3, 4]] = True
    so = np.array([[0.2, 0.6, 0.5, 0.9]] * 3)
    sc = np.array([[0.6, 0.4, 0.5, 0.95], [0.3, 0.4, 0.1, 0.95], [0.3, 0.4, 0.1, 0.95]])
    tau = np.array([0.5, 0.25, np.nan])
    t = flips_table(
        "ens",
        "ehr",
        "time_shift@1",
        members,
        label_flips=lf,
        abs_change=np.full((3, 6), 0.5),
        decision_flips=decision_flip_direction(so, sc, tau),
        thresholds=tau,
        risk_change=relative_risk_change(so, sc),
    )
    assert tuple(t.columns) == FLIPS_COLUMNS
    assert t["value"].dtype == np.float64 and t["n_sets"].dtype == np.int64
    assert set(t["ensemble"]) == {"ens"} and set(t["variant"]) == {"time_shift@1"}

    def one(kind, member=None, other=None):
        rows = t[(t.kind == kind) & ((t.member == member) if member else t.member.isna())]
        if other is not None:
            rows = rows[rows.other_member == other]
        assert len(rows) == 1, (kind, member, other)
        return rows.iloc[0]

    assert one("count", "m0").value == 3 and one("rate", "m0").value == pytest.approx(0.5)
    assert one("rate", "m0").n_sets == 6
    assert one("overlap", "m0", "m1").value == pytest.approx(1 / 3)
    assert one("overlap", "m1", "m0").value == pytest.approx(1 / 2)
    assert np.isnan(one("overlap", "m2", "m0").value)
    assert one("shared_any").value == 4 and one("shared_one").value == 3 and one("shared_all").value == 0
    assert one("mean_abs_change", "m1").value == 0.5
    assert one("decision_flips", "m0").value == 2 and one("decision_flips_up", "m0").value == 1
    assert one("decision_flips", "m1").value == 2 and one("decision_flip_rate", "m1").value == 0.5
    assert one("decision_flips_down", "m1").value == 1 and one("threshold", "m1").value == 0.25
    assert np.isnan(one("decision_flips", "m2").value) and np.isnan(one("threshold", "m2").value)
    assert one("decision_shared_any").value == 3  # over members with a threshold
    assert one("risk_change_q50", "m0").n_sets == 4
    assert t[~t.kind.str.endswith("overlap")].other_member.isna().all()
    assert t[t.kind.str.endswith("overlap")].other_member.notna().all()
    assert t[t.kind.str.startswith("shared")].member.isna().all()


def _ps(variant, probs, ids, target):
    return PredictionSet(
        ensemble="ens",
        test="ehr",
        variant=variant,
        task="binary",
        members=["a", "b"],
        ids=np.asarray(ids),
        target=np.asarray(target),
        outputs=np.asarray(probs),
    )


def test_paired_and_set_tables_from_prediction_sets():
    p1 = np.array([0.2, 0.7, 0.4])
    orig = _ps("none", np.stack([np.stack([1 - p1, p1], -1)] * 2), [10, 11, 12], [0, 1, 1])
    p2 = np.array([[0.8, 0.4, 0.3, 0.6], [0.2, 0.7, 0.4, 0.6]])  # cf ids in another order, with an extra id
    cf_ids = [11, 12, 10, 99]
    cf = _ps("time_shift@1", np.stack([1 - p2, p2], -1), cf_ids, [1, 1, 0, 0])
    t = paired_flips_table(orig, cf, thresholds=np.array([0.5, 0.5]))
    rate = t[t.kind == "rate"].set_index("member").value
    # member a: id 11 0.7 -> 0.8; 12 0.4 -> 0.4; 10 0.2 -> 0.3: no flips
    # member b: id 11 0.7 -> 0.2 and 12 0.4 -> 0.7 flip, 10 0.2 -> 0.4 does not; id 99 has no original
    assert rate["a"] == 0 and rate["b"] == pytest.approx(2 / 3)
    mac = t[t.kind == "mean_abs_change"].set_index("member").value
    assert mac["a"] == pytest.approx((0.1 + 0.0 + 0.1) / 3) and mac["b"] == pytest.approx(
        (0.5 + 0.3 + 0.2) / 3
    )
    dec = t[t.kind == "decision_flips"].set_index("member").value
    assert dec["a"] == 0 and dec["b"] == 2
    assert (t[t.kind == "rate"].n_sets == 3).all()
    assert set(t.variant) == {"time_shift@1"}

    both = _ps("contrastive", np.stack([np.stack([1 - p1, p1], -1)] * 2), [1, 2, 3], [1, 1, 1])
    ts = matched_set_flips_table(both, set_ids=np.array([0, 0, 1]))
    assert isinstance(ts, pd.DataFrame)
    r = ts[(ts.kind == "rate")]
    assert (r.value == 1.0).all() and (r.n_sets == 1).all()  # set 0: labels 0 and 1
    assert ts[ts.kind == "mean_abs_change"].value.tolist() == pytest.approx([0.5, 0.5])
