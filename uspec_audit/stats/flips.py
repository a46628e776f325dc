"""Contrastive statistics: decisions and labels that flip under an intervention (docs/methods.md §9; UP §8, Fig. 14-15).

All functions are pure and vectorized over members: matrices are ``(M, n)``,
row ``m`` is member ``m``, column ``i`` is example (or matched set) ``i``.

- :func:`calibrate_thresholds`: each member's decision threshold ``tau_m`` on
  the reference (iid) data for a binary risk score. The decision is
  ``score >= tau_m``.
- :func:`decision_flips` / :func:`decision_flip_direction`: examples whose
  decision changes between ``x`` and ``T(x)``.
- :func:`label_flips`: paired predicted-label changes; :func:`set_label_flips`
  and :func:`set_abs_change` for matched sets given by a link array.
- :func:`relative_risk_change`: quantiles of ``(s_cf - s_orig) / s_orig``.
- :func:`flip_overlap`, :func:`flip_sharing`: do members flip on the *same*
  examples? (The paper finds that they mostly do not.)
- :func:`flips_table`: the long-form rows of ``flips.parquet``.

``flips.parquet`` columns (one row per ensemble, test, variant, member, kind)
---------------------------------------------------------------------------
``ensemble`` (str), ``test`` (str), ``variant`` (str)
    The work unit; ``variant`` is the counterfactual variant compared with the
    original (e.g. ``"time_shift@1"``).
``member`` (str, null for ensemble-wide rows)
    The member the value belongs to; null for ``shared_*`` rows.
``other_member`` (str, null except for overlap rows)
    For ``overlap`` / ``decision_overlap`` rows: the member ``m'`` in
    ``|F_m ∩ F_m'| / |F_m|``. The member x member matrix is written for
    ensembles of at most :data:`MAX_OVERLAP_MEMBERS` members; a larger ensemble
    gets one ``overlap_mean`` / ``decision_overlap_mean`` row per member instead
    (the mean over m' != m of the overlap), so the table grows linearly with
    the members, never as their square.
``kind`` (str)
    Label flips (predicted class changes; paired examples or matched sets):
    ``rate`` (share of units that flip), ``count`` (``|F_m|``), ``overlap``,
    ``shared_all`` / ``shared_one`` / ``shared_any`` (units flipped by all
    members / exactly one / at least one). ``mean_abs_change``: mean absolute
    change of the true-class probability (or score) per unit.
    Decision flips at each member's calibrated threshold: ``threshold``
    (``tau_m``), ``decision_flips`` (count), ``decision_flip_rate``,
    ``decision_flips_up`` (negative -> positive), ``decision_flips_down``,
    ``decision_overlap``, ``decision_shared_all`` / ``_one`` / ``_any`` (over
    the members whose threshold could be calibrated).
    Relative change of the risk score: ``risk_change_q10``, ``_q25``,
    ``_q50``, ``_q75``, ``_q90`` (quantiles) and ``risk_change_mean``.
``value`` (float64)
    The statistic; NaN where undefined (overlap row of a member with no flips,
    decision rows of a member whose threshold could not be calibrated).
``n_sets`` (int64)
    The number of units the value is computed over: examples for paired
    comparisons, matched sets (of two rows or more) for set statistics; for
    ``risk_change_*`` the examples with a non-zero, finite original score.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from uspec_audit.results.catalog import column_names

FLIPS_COLUMNS = tuple(
    column_names("flips")
)  # ensemble, test, variant, then one statistic of a member or pair
MAX_OVERLAP_MEMBERS = 100  # above: per-member mean overlap instead of the M x M matrix
_OVERLAP_CHUNK = 1 << 16  # examples per block when counting intersections (bounded memory)
DEFAULT_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _matrix(a, name: str, dtype=None) -> np.ndarray:
    arr = np.asarray(a, dtype=dtype)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a (members, examples) matrix, got shape {arr.shape}")
    return arr


def _same_shape(a: np.ndarray, b: np.ndarray, na: str, nb: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{na} {a.shape} and {nb} {b.shape} must have the same shape")


# --------------------------------------------------------------------------- thresholds


def calibrate_thresholds(
    scores_ref,
    target_ref,
    target: Literal["positive_rate", "precision", "recall"],
    value: float,
) -> np.ndarray:
    """Each member's decision threshold ``tau_m`` on the reference data; decisions are ``score >= tau_m``.

    - ``positive_rate = v``: ``tau_m`` is the ``k``-th largest reference score,
      ``k = ceil(v * n)`` (at least a share ``v`` flagged positive; more on ties).
    - ``recall = v``: the ``k``-th largest score among true positives,
      ``k = ceil(v * P)``: the highest threshold with recall ``>= v``.
    - ``precision = v``: the lowest threshold (largest recall) among the
      reference scores whose precision ``>= v``.

    Returns ``(M,)`` float64; ``+inf`` when ``v = 0`` for rate/recall (nothing
    positive); NaN when no threshold reaches the precision (or there are no
    positives for recall).
    """
    s = _matrix(scores_ref, "scores_ref", np.float64)
    y = np.asarray(target_ref)
    if y.shape != (s.shape[1],):
        raise ValueError(f"target_ref must have shape ({s.shape[1]},), got {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("target_ref must be binary (0/1)")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{target} must be in [0, 1], got {value}")
    if np.isnan(s).any():
        raise ValueError("scores_ref contain NaN")
    m, n = s.shape
    y = y.astype(bool)
    if target in ("positive_rate", "recall"):
        pool = s if target == "positive_rate" else s[:, y]
        size = pool.shape[1]
        if size == 0:
            return np.full(m, np.nan)
        k = int(np.ceil(value * size - 1e-12))
        if k == 0:
            return np.full(m, np.inf)
        return -np.partition(-pool, k - 1, axis=1)[:, k - 1]
    if target != "precision":
        raise ValueError(f"unknown threshold target {target!r}; use positive_rate, precision or recall")
    order = np.argsort(-s, axis=1, kind="stable")
    ss = np.take_along_axis(s, order, axis=1)
    tp = np.cumsum(y[order], axis=1)
    count = np.arange(1, n + 1)
    precision = tp / count
    # a threshold can only sit at the end of a group of tied scores
    group_end = np.ones_like(ss, dtype=bool)
    group_end[:, :-1] = ss[:, :-1] != ss[:, 1:]
    ok = group_end & (precision >= value - 1e-12)
    any_ok = ok.any(axis=1)
    last = n - 1 - np.argmax(ok[:, ::-1], axis=1)
    return np.where(any_ok, ss[np.arange(m), last], np.nan)


# --------------------------------------------------------------------------- paired flips


def decision_flip_direction(scores_orig, scores_cf, thresholds) -> np.ndarray:
    """``int8 (M, n)``: +1 negative -> positive, -1 positive -> negative, 0 unchanged.

    Members with a NaN threshold get 0 everywhere (see :func:`flips_table`).
    """
    so = _matrix(scores_orig, "scores_orig", np.float64)
    sc = _matrix(scores_cf, "scores_cf", np.float64)
    _same_shape(so, sc, "scores_orig", "scores_cf")
    tau = np.asarray(thresholds, dtype=np.float64)
    if tau.shape != (so.shape[0],):
        raise ValueError(f"thresholds must have shape ({so.shape[0]},), got {tau.shape}")
    before = so >= tau[:, None]
    after = sc >= tau[:, None]
    return after.astype(np.int8) - before.astype(np.int8)


def decision_flips(scores_orig, scores_cf, thresholds) -> np.ndarray:
    """``bool (M, n)``: the decision ``score >= tau_m`` differs between original and counterfactual."""
    return decision_flip_direction(scores_orig, scores_cf, thresholds) != 0


def label_flips(labels_orig, labels_cf) -> np.ndarray:
    """``bool (M, n)``: the predicted label differs between original and counterfactual."""
    lo = _matrix(labels_orig, "labels_orig")
    lc = _matrix(labels_cf, "labels_cf")
    _same_shape(lo, lc, "labels_orig", "labels_cf")
    return lo != lc


# --------------------------------------------------------------------------- matched sets


def _groups(set_ids, n: int, is_original=None):
    """Sort order, group starts and sizes, and the kept sets (two rows or more)."""
    ids = np.asarray(set_ids)
    if ids.shape != (n,):
        raise ValueError(f"set_ids must have shape ({n},), got {ids.shape}")
    uniq, inv = np.unique(ids, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    sizes = np.bincount(inv, minlength=len(uniq))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    if is_original is not None:
        orig = np.asarray(is_original, dtype=bool)
        if orig.shape != (n,):
            raise ValueError(f"is_original must have shape ({n},), got {orig.shape}")
        per_set = np.bincount(inv, weights=orig, minlength=len(uniq))
        bad = per_set != 1
        if bad.any():
            raise ValueError(
                f"each matched set needs exactly one original row; {int(bad.sum())} set(s) do not "
                f"(e.g. set {uniq[np.flatnonzero(bad)[0]]!r})"
            )
    return uniq, inv, order, sizes, starts


def set_label_flips(labels, set_ids, is_original=None) -> tuple[np.ndarray, np.ndarray]:
    """Per member and matched set: does the predicted label change within the set?

    ``labels (M, N)`` over rows, ``set_ids (N,)`` links each row to its set.
    A set flips when its predicted labels are not all equal; with a designated
    original per set (``is_original (N,)`` bool, exactly one per set) this is
    the same as "some counterfactual differs from the original". Sets of a
    single row cannot flip and are left out. Returns ``(flipped (M, S) bool,
    kept set ids (S,))``.
    """
    lab = _matrix(labels, "labels")
    uniq, _, order, sizes, starts = _groups(set_ids, lab.shape[1], is_original)
    keep = sizes >= 2
    if lab.shape[1] == 0:
        return np.zeros((lab.shape[0], 0), dtype=bool), uniq[:0]
    srt = lab[:, order]
    lo = np.minimum.reduceat(srt, starts, axis=1)
    hi = np.maximum.reduceat(srt, starts, axis=1)
    return (lo != hi)[:, keep], uniq[keep]


def set_abs_change(scores, set_ids, is_original=None) -> tuple[np.ndarray, np.ndarray]:
    """Per member and matched set: mean absolute change of a score (e.g. true-class probability).

    With ``is_original``: the mean over the set's counterfactual rows of
    ``|s_cf - s_orig|``. Without: the mean absolute pairwise difference within
    the set (for a pair, ``|s_a - s_b|`` — the two definitions agree).
    Returns ``(change (M, S) float64, kept set ids (S,))``; singleton sets are left out.
    """
    sc = _matrix(scores, "scores", np.float64)
    m, n = sc.shape
    uniq, inv, order, sizes, starts = _groups(set_ids, n, is_original)
    keep = sizes >= 2
    if n == 0:
        return np.zeros((m, 0)), uniq[:0]
    if is_original is not None:
        orig = np.asarray(is_original, dtype=bool)
        orig_row = np.empty(len(uniq), dtype=np.int64)
        orig_row[inv[orig]] = np.flatnonzero(orig)
        diff = np.abs(sc - sc[:, orig_row[inv]])  # 0 on the original rows
        total = np.add.reduceat(diff[:, order], starts, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = total / (sizes - 1)
        return out[:, keep], uniq[keep]
    # sort by value within each set: sum_{i<j} |x_j - x_i| = sum_i x_(i) (2i - k + 1), i = 0..k-1
    by_value = np.argsort(sc, axis=1, kind="stable")
    within = np.argsort(inv[by_value], axis=1, kind="stable")
    perm = np.take_along_axis(by_value, within, axis=1)
    xs = np.take_along_axis(sc, perm, axis=1)
    g_sorted = inv[order]
    pos = np.arange(n) - starts[g_sorted]
    k = sizes[g_sorted]
    total = np.add.reduceat(xs * (2 * pos - k + 1), starts, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / (sizes * (sizes - 1) / 2)
    return out[:, keep], uniq[keep]


# --------------------------------------------------------------------------- risk change


def relative_risk_change(
    scores_orig, scores_cf, quantiles: Sequence[float] = DEFAULT_QUANTILES
) -> dict[str, np.ndarray]:
    """Distribution of the relative change ``(s_cf - s_orig) / s_orig`` per member (UP Fig. 14).

    Examples whose original score is zero or not finite are left out. Returns
    ``{"q10": (M,), ..., "mean": (M,), "n": (M,) int64}`` (keys ``q{100 q}``,
    NaN where a member has no valid example).
    """
    so = _matrix(scores_orig, "scores_orig", np.float64)
    sc = _matrix(scores_cf, "scores_cf", np.float64)
    _same_shape(so, sc, "scores_orig", "scores_cf")
    valid = np.isfinite(so) & (so != 0) & np.isfinite(sc)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(valid, (sc - so) / np.where(valid, so, 1.0), np.nan)
    counts = valid.sum(axis=1)
    out: dict[str, np.ndarray] = {}
    has = counts > 0
    qs = np.full((len(quantiles), so.shape[0]), np.nan)
    if has.any() and len(quantiles):
        qs[:, has] = np.nanquantile(rel[has], np.asarray(quantiles, dtype=np.float64), axis=1)
    for q, row in zip(quantiles, qs, strict=True):
        out[f"q{round(100 * q):d}"] = row
    mean = np.full(so.shape[0], np.nan)
    mean[has] = np.nansum(rel[has], axis=1) / counts[has]
    out["mean"] = mean
    out["n"] = counts.astype(np.int64)
    return out


# --------------------------------------------------------------------------- structure of flips


def flip_overlap(flips) -> np.ndarray:
    """``(M, M)`` matrix ``|F_m ∩ F_m'| / |F_m|``; row ``m`` is NaN when member ``m`` flips nothing.

    Intersections are counted a block of examples at a time in float32 (exact:
    a block's counts stay below 2**24) and summed in float64, so memory is
    bounded by the block, not by the number of examples.
    """
    f = _matrix(flips, "flips").astype(bool)
    m, n = f.shape
    inter = np.zeros((m, m))
    for start in range(0, n, _OVERLAP_CHUNK):
        block = f[:, start : start + _OVERLAP_CHUNK].astype(np.float32)
        inter += block @ block.T
    counts = np.diag(inter).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = inter / counts[:, None]
    out[counts == 0] = np.nan
    return out


def flip_sharing(flips) -> dict[str, int | np.ndarray]:
    """How many members flip on each unit.

    Returns ``{"all": units flipped by every member, "one": by exactly one,
    "any": by at least one, "n": units, "by_k": (M + 1,) counts of units
    flipped by exactly k members}``.
    """
    f = _matrix(flips, "flips").astype(bool)
    m, n = f.shape
    per_unit = f.sum(axis=0)
    by_k = np.bincount(per_unit, minlength=m + 1).astype(np.int64)
    return {
        "all": int(by_k[m]) if m > 0 else 0,
        "one": int(by_k[1]) if m >= 1 else 0,
        "any": int(n - by_k[0]),
        "n": int(n),
        "by_k": by_k,
    }


# --------------------------------------------------------------------------- table


def _rows_for_flips(
    prefix: str,
    flips: np.ndarray,
    members: Sequence[str],
    rate_kind: str,
    count_kind: str,
    undefined: np.ndarray | None = None,
) -> list[tuple]:
    f = np.asarray(flips, dtype=bool)
    m, n = f.shape
    undefined = np.zeros(m, dtype=bool) if undefined is None else undefined
    rows: list[tuple] = []
    counts = f.sum(axis=1)
    for i, name in enumerate(members):
        bad = bool(undefined[i])
        rows.append((name, None, count_kind, np.nan if bad else float(counts[i]), n))
        rows.append((name, None, rate_kind, np.nan if bad or n == 0 else counts[i] / n, n))
    overlap = flip_overlap(f)
    overlap[undefined, :] = np.nan
    overlap[:, undefined] = np.nan
    if m <= MAX_OVERLAP_MEMBERS:
        for i, a in enumerate(members):
            for j, b in enumerate(members):
                rows.append((a, b, f"{prefix}overlap", float(overlap[i, j]), n))
    else:
        off = overlap.copy()
        np.fill_diagonal(off, np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(off, axis=1)
        for i, a in enumerate(members):
            rows.append((a, None, f"{prefix}overlap_mean", float(mean[i]), n))
    share = flip_sharing(f[~undefined])
    for key in ("all", "one", "any"):
        value = float(share[key]) if (~undefined).any() else np.nan
        rows.append((None, None, f"{prefix}shared_{key}", value, n))
    return rows


def flips_table(
    ensemble: str,
    test: str,
    variant: str,
    members: Sequence[str],
    *,
    label_flips: np.ndarray | None = None,
    abs_change: np.ndarray | None = None,
    decision_flips: np.ndarray | None = None,
    thresholds: np.ndarray | None = None,
    risk_change: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Long-form rows of ``flips.parquet`` for one (ensemble, test, variant); columns in the module docstring.

    - ``label_flips``: ``bool (M, n_units)`` from :func:`label_flips` (units are
      examples) or :func:`set_label_flips` (units are matched sets) → ``count``,
      ``rate``, ``overlap``, ``shared_*``.
    - ``abs_change``: ``(M, n_units)`` per-unit absolute change of the
      true-class probability or score (``|p_cf - p_orig|`` or
      :func:`set_abs_change`) → ``mean_abs_change`` (NaN units ignored).
    - ``decision_flips``: ``(M, n)`` bool from :func:`decision_flips`, or the
      signed ``int8`` of :func:`decision_flip_direction` (then also
      ``decision_flips_up`` / ``_down``); with ``thresholds`` ``(M,)``
      (``threshold`` rows; a NaN threshold makes that member's decision rows NaN).
    - ``risk_change``: the dict of :func:`relative_risk_change` → ``risk_change_*``.
    """
    members = list(members)
    m = len(members)
    rows: list[tuple] = []

    def check(arr: np.ndarray, name: str) -> np.ndarray:
        arr = _matrix(arr, name)
        if arr.shape[0] != m:
            raise ValueError(f"{name} has {arr.shape[0]} rows for {m} members")
        return arr

    if label_flips is not None:
        lf = check(label_flips, "label_flips")
        rows += _rows_for_flips("", lf, members, "rate", "count")
    if abs_change is not None:
        ac = check(np.asarray(abs_change, dtype=np.float64), "abs_change")
        finite = ~np.isnan(ac)
        n_valid = finite.sum(axis=1)
        for i, name in enumerate(members):
            value = float(np.nansum(ac[i]) / n_valid[i]) if n_valid[i] else np.nan
            rows.append((name, None, "mean_abs_change", value, int(n_valid[i])))
    if decision_flips is not None:
        df = check(decision_flips, "decision_flips")
        undefined = np.zeros(m, dtype=bool)
        if thresholds is not None:
            tau = np.asarray(thresholds, dtype=np.float64)
            if tau.shape != (m,):
                raise ValueError(f"thresholds must have shape ({m},), got {tau.shape}")
            undefined = np.isnan(tau)
            rows += [(name, None, "threshold", float(tau[i]), df.shape[1]) for i, name in enumerate(members)]
        rows += _rows_for_flips(
            "decision_", df != 0, members, "decision_flip_rate", "decision_flips", undefined
        )
        if df.dtype != bool:
            for i, name in enumerate(members):
                bad = bool(undefined[i])
                rows.append(
                    (
                        name,
                        None,
                        "decision_flips_up",
                        np.nan if bad else float((df[i] > 0).sum()),
                        df.shape[1],
                    )
                )
                rows.append(
                    (
                        name,
                        None,
                        "decision_flips_down",
                        np.nan if bad else float((df[i] < 0).sum()),
                        df.shape[1],
                    )
                )
    if risk_change is not None:
        n_valid = np.asarray(risk_change.get("n", np.zeros(m)), dtype=np.int64)
        for key, values in risk_change.items():
            if key == "n":
                continue
            values = np.asarray(values, dtype=np.float64)
            if values.shape != (m,):
                raise ValueError(f"risk_change[{key!r}] has shape {values.shape}, expected ({m},)")
            for i, name in enumerate(members):
                rows.append((name, None, f"risk_change_{key}", float(values[i]), int(n_valid[i])))

    frame = pd.DataFrame(rows, columns=list(FLIPS_COLUMNS[3:]))
    frame.insert(0, "variant", variant)
    frame.insert(0, "test", test)
    frame.insert(0, "ensemble", ensemble)
    frame["value"] = frame["value"].astype(np.float64)
    frame["n_sets"] = frame["n_sets"].astype(np.int64)
    for col in ("ensemble", "test", "variant", "member", "other_member", "kind"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame[list(FLIPS_COLUMNS)]


# --------------------------------------------------------------------------- from prediction sets


def risk_scores(ps, positive_class: int = 1) -> np.ndarray:
    """``(M, n)`` risk score of a :class:`~uspec_audit.results.prediction_set.PredictionSet`.

    Classification: the probability of ``positive_class``; regression: the prediction.
    """
    if not ps.is_classification:
        return np.asarray(ps.outputs, dtype=np.float64)
    return np.asarray(ps.outputs[..., positive_class], dtype=np.float64)


def paired_flips_table(
    orig, cf, thresholds=None, positive_class: int = 1, quantiles: Sequence[float] = DEFAULT_QUANTILES
) -> pd.DataFrame:
    """``flips.parquet`` rows comparing two aligned prediction sets (the original and one counterfactual variant).

    Rows of ``cf`` are matched to ``orig`` by example id (ids present in both);
    member order must agree. Label flips and ``mean_abs_change`` of the
    true-class probability are reported for classification; decision flips when
    ``thresholds`` (from :func:`calibrate_thresholds` on the reference test) are
    given; the relative risk change always.
    """
    if list(orig.members) != list(cf.members):
        raise ValueError("the original and counterfactual prediction sets list different members")
    common, io, ic = np.intersect1d(np.asarray(orig.ids), np.asarray(cf.ids), return_indices=True)
    so, sc = risk_scores(orig, positive_class)[:, io], risk_scores(cf, positive_class)[:, ic]
    kwargs: dict = {}
    if orig.is_classification:
        kwargs["label_flips"] = label_flips(orig.pred_label[:, io], cf.pred_label[:, ic])
        kwargs["abs_change"] = np.abs(orig.true_prob[:, io] - cf.true_prob[:, ic])
    else:
        kwargs["abs_change"] = np.abs(so - sc)
    if thresholds is not None:
        kwargs["decision_flips"] = decision_flip_direction(so, sc, thresholds)
        kwargs["thresholds"] = thresholds
    kwargs["risk_change"] = relative_risk_change(so, sc, quantiles)
    return flips_table(orig.ensemble, cf.test, cf.variant, orig.members, **kwargs)


def matched_set_flips_table(ps, set_ids, is_original=None) -> pd.DataFrame:
    """``flips.parquet`` rows for matched sets inside one prediction set (contrastive tests).

    ``set_ids (n,)`` links each example (column of ``ps``) to its set, e.g. an
    original sentence and its gender-swapped version; ``is_original`` optionally
    marks the one original row per set. Reports the per-member label flip rate
    over sets, overlap and sharing, and ``mean_abs_change`` of the true-class
    probability (or the prediction, for regression).
    """
    kwargs: dict = {}
    if ps.is_classification:
        kwargs["label_flips"], _ = set_label_flips(ps.pred_label, set_ids, is_original)
    kwargs["abs_change"], _ = set_abs_change(ps.true_prob, set_ids, is_original)
    return flips_table(ps.ensemble, ps.test, ps.variant, ps.members, **kwargs)
