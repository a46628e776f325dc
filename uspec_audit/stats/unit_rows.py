"""Rows of the per-unit tables that need the predictions: calibration, PCA and marginalization.

Called by :func:`uspec_audit.stats.units.example_level` while a prediction
set is in memory (docs/methods.md §7, §8, §10).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats import calibration as cal
from uspec_audit.stats import marginalize as marg
from uspec_audit.stats import pca as pca_mod
from uspec_audit.stats.seeding import rng_for
from uspec_audit.stats.settings import AnalysisSettings
from uspec_audit.stats.tables import Block

__all__ = ["calibration_rows", "pca_rows", "marginalization_rows"]

Rows = dict[str, list[dict[str, Any] | Block]]


def calibration_rows(
    ps: PredictionSet, members: list[str], stratum: str, cols: np.ndarray | None, bins: int, rows: Rows
) -> None:
    """Reliability curve, ECE and Brier of every member on one unit (classification with probabilities)."""
    if not (ps.is_classification and ps.outputs.ndim == 3):
        return
    m = len(members)
    probs = ps.outputs if cols is None else ps.outputs[:, cols]
    tgt = ps.target if cols is None else ps.target[cols]
    rel = cal.reliability(probs, tgt, bins)
    rows["calibration"].append(
        Block(
            m * bins,
            {
                "ensemble": ps.ensemble,
                "member": np.repeat(np.asarray(members, dtype=object), bins),
                "test": ps.test,
                "variant": ps.variant,
                "stratum": stratum,
                "bin": np.tile(np.arange(bins), m),
                "bin_lower": np.tile(rel.bin_lower, m),
                "bin_upper": np.tile(rel.bin_upper, m),
                "confidence": rel.confidence.ravel(),
                "accuracy": rel.accuracy.ravel(),
                "count": rel.count.ravel(),
                "ece": np.repeat(rel.ece, bins),
                "brier": np.repeat(rel.brier, bins),
            },
        )
    )


def pca_rows(ps: PredictionSet, members: list[str], settings: AnalysisSettings, rows: Rows) -> None:
    """PCA of the deviations of the true-class probability from the ensemble mean (whole test)."""
    m, n = len(members), int(np.asarray(ps.ids).shape[0])
    if m < 2 or n < 2:
        return
    res_p = pca_mod.deviation_pca(ps.true_prob, settings.pca_components)
    base = {"ensemble": ps.ensemble, "test": ps.test, "variant": ps.variant}
    for c in range(res_p.explained_variance_ratio.size):
        rows["pca"].append(
            {**base, "kind": "explained", "component": c + 1, "value": res_p.explained_variance_ratio[c]}
        )
        for i, mem in enumerate(members):
            rows["pca"].append(
                {**base, "kind": "loading", "component": c + 1, "member": mem, "value": res_p.loadings[i, c]}
            )
    if settings.pca_scores:
        ids = np.asarray(ps.ids).astype(str).astype(object)
        for c in range(res_p.scores.shape[1]):
            rows["pca"].append(
                Block(
                    n,
                    {
                        **base,
                        "kind": "score",
                        "component": c + 1,
                        "example_id": ids,
                        "value": res_p.scores[:, c],
                    },
                )
            )
    for attr, arr in sorted(ps.attributes.items()):
        a = np.asarray(arr)
        if a.dtype.kind in "biuf":  # numeric: a rank correlation
            kind, values = "attribute_corr", pca_mod.attribute_spearman(res_p.scores, a.astype(np.float64))
        else:  # categorical (a camera, a skin type as text): the correlation ratio, which needs no order
            kind, values = "attribute_eta", pca_mod.attribute_eta(res_p.scores, a)
            if np.isnan(values).all():  # an identifier-like or one-level column says nothing
                continue
        for c, value in enumerate(values):
            rows["pca"].append({**base, "kind": kind, "component": c + 1, "value": value, "attribute": attr})


def marginalization_rows(
    ps: PredictionSet,
    members: list[str],
    ref_values: np.ndarray | None,
    settings: AnalysisSettings,
    seed: int,
    rows: Rows,
) -> None:
    """The marginalization curve of one (test, variant) against the best member on the reference."""
    m, n = len(members), int(np.asarray(ps.ids).shape[0])
    if m < 1 or n < 1:
        return
    cls = ps.is_classification
    curve = marg.marginalization_curve(
        ps.outputs,
        ps.target,
        ps.task,
        settings.marginalization_subsets,
        rng_for(seed, "marginalization", ps.ensemble, ps.test, ps.variant),
    )
    best = (
        None
        if ref_values is None or np.isnan(ref_values).all()
        else (int(np.nanargmax(ref_values)) if cls else int(np.nanargmin(ref_values)))
    )
    best_val = float(curve.member_values[best]) if best is not None else float("nan")
    mv = curve.member_values
    oracle = float(np.nanmax(mv) if cls else np.nanmin(mv)) if not np.isnan(mv).all() else float("nan")
    small = marg.smallest_k_beating(curve.mean, best_val, cls)
    for j, k in enumerate(curve.k):
        rows["marginalization"].append(
            {
                "ensemble": ps.ensemble,
                "test": ps.test,
                "variant": ps.variant,
                "k": int(k),
                "metric": "accuracy" if cls else "mse",
                "mean": curve.mean[j],
                "sd": curve.sd[j],
                "best_member_on_ref": members[best] if best is not None else None,
                "best_ref_member_value": best_val,
                "oracle_member_value": oracle,
                "smallest_k_beating_best": small,
            }
        )
