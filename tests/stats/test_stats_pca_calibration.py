import numpy as np
import pytest
from scipy import stats as sps
from sklearn.decomposition import PCA
from sklearn.metrics import brier_score_loss

from uspec_audit.stats.calibration import ece_spread, reliability
from uspec_audit.stats.pca import attribute_eta, attribute_spearman, deviation_pca, extreme_examples


def test_pca_matches_scikit_learn():
    rng = np.random.default_rng(0)
    m, n = 8, 300
    latent = rng.normal(size=n)
    f = 0.5 + 0.1 * np.outer(rng.normal(size=m), latent) + 0.02 * rng.normal(size=(m, n))
    res = deviation_pca(f, 3)
    dev = (f - f.mean(axis=0)).T
    sk = PCA(n_components=3, svd_solver="full").fit(dev)
    np.testing.assert_allclose(res.explained_variance, sk.explained_variance_, rtol=1e-8)
    # ratios relative to the total variance of all components
    full = PCA(svd_solver="full").fit(dev)
    np.testing.assert_allclose(res.explained_variance_ratio, full.explained_variance_ratio_[:3], rtol=1e-8)
    signs = np.sign((res.loadings * sk.components_.T).sum(axis=0))
    np.testing.assert_allclose(res.loadings * signs, sk.components_.T, atol=1e-8)
    np.testing.assert_allclose(res.scores * signs, sk.transform(dev), atol=1e-8)
    assert res.explained_variance_ratio[0] > 0.8  # one latent direction


def test_attribute_spearman_and_extremes():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(50, 2))
    attr = scores[:, 0] * 2 + rng.normal(size=50) * 0.1
    attr[3] = np.nan
    got = attribute_spearman(scores, attr)
    keep = ~np.isnan(attr)
    assert got[0] == pytest.approx(sps.spearmanr(scores[keep, 0], attr[keep]).statistic)
    ex = extreme_examples(scores, np.arange(50) + 100, k=3)
    assert ex["high"][0] == 100 + np.argmax(scores[:, 0]) and ex["low"][0] == 100 + np.argmin(scores[:, 0])


def test_attribute_eta_matches_one_way_anova():
    """eta^2 = F (k-1) / (F (k-1) + n - k), with F from scipy's one-way ANOVA (an independent computation)."""
    rng = np.random.default_rng(2)
    levels = np.array(["I", "II", "III", "IV", "V", "VI"], dtype=object)
    labels = levels[rng.integers(0, 6, size=240)]
    shift = {"I": 0.0, "II": 0.1, "III": 0.3, "IV": 0.2, "V": 0.9, "VI": 1.4}
    scores = np.stack(
        [np.array([shift[v] for v in labels]) + rng.normal(size=240), rng.normal(size=240)], axis=1
    )
    labels[[5, 17]] = None  # missing values are dropped
    got = attribute_eta(scores, labels)
    keep = np.array([v is not None for v in labels])
    for j in range(2):
        groups = [scores[keep, j][labels[keep] == v] for v in levels]
        f = sps.f_oneway(*groups).statistic
        n, k = int(keep.sum()), 6
        assert got[j] ** 2 == pytest.approx(f * (k - 1) / (f * (k - 1) + n - k))
    assert got[0] > 0.4 > got[1]  # the shifted component lines up with the levels, the noise one does not


def test_attribute_eta_refuses_identifier_like_columns():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(100, 1))
    ids = np.array([f"lesion-{i}" for i in range(100)], dtype=object)
    assert np.isnan(attribute_eta(scores, ids)).all()  # one level per example: eta would be 1 by construction
    assert np.isnan(attribute_eta(scores, np.array(["a"] * 100, dtype=object))).all()  # one level


def test_reliability_hand_worked():
    # one member, binary, 4 examples, 2 bins [0, .5), [.5, 1]
    p1 = np.array([0.9, 0.8, 0.3, 0.6])
    probs = np.stack([1 - p1, p1], axis=-1)[None]
    y = np.array([1, 0, 0, 1])
    rel = reliability(probs, y, n_bins=2)
    # top-label confidences .9 .8 .7 .6 all in bin 1; correct: 1, 0, 1, 1
    assert rel.count.tolist() == [[0, 4]]
    assert np.isnan(rel.confidence[0, 0])
    assert rel.confidence[0, 1] == pytest.approx(0.75) and rel.accuracy[0, 1] == pytest.approx(0.75)
    assert rel.ece[0] == pytest.approx(0.0)
    # Brier summed over classes = 2 x scikit-learn's binary Brier score
    assert rel.brier[0] == pytest.approx(2 * brier_score_loss(y, p1))


def test_reliability_matches_a_naive_loop_per_member():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(4, 500, 5)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y = rng.integers(0, 5, 500)
    rel = reliability(probs, y, n_bins=10)
    for m in range(4):
        # example by example, the textbook definition (Guo et al. 2017): bins [k/10, (k+1)/10), the last closed
        conf_sum, hit_sum, count = np.zeros(10), np.zeros(10), np.zeros(10, dtype=int)
        for i in range(500):
            c = probs[m, i].max()
            k = min(int(c * 10), 9)
            conf_sum[k] += c
            hit_sum[k] += float(probs[m, i].argmax() == y[i])
            count[k] += 1
        np.testing.assert_array_equal(rel.count[m], count)
        filled = count > 0
        np.testing.assert_allclose(rel.confidence[m][filled], conf_sum[filled] / count[filled])
        np.testing.assert_allclose(rel.accuracy[m][filled], hit_sum[filled] / count[filled])
        assert np.isnan(rel.confidence[m][~filled]).all()
        ece_hand = sum(
            count[k] / 500 * abs(hit_sum[k] / count[k] - conf_sum[k] / count[k])
            for k in range(10)
            if count[k]
        )
        assert rel.ece[m] == pytest.approx(ece_hand)
        onehot = np.eye(5)[y]
        assert rel.brier[m] == pytest.approx(((probs[m] - onehot) ** 2).sum(axis=1).mean())
    mean, sd, _ = ece_spread(rel.ece)
    assert sd == pytest.approx(np.std(rel.ece, ddof=1)) and mean == pytest.approx(np.mean(rel.ece))
