"""The per-example predictions table (``predictions/ensemble=E/test=T/variant=V/part-0.parquet``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from uspec_audit.results.prediction_set import PredictionSet


def predictions_frame(predictions: PredictionSet) -> pd.DataFrame:
    """One row per (member, example): predicted label, true-class probability and confidence,
    or the prediction for regression."""
    members, n = len(predictions.members), len(predictions.ids)
    frame = {
        "member": np.repeat(np.asarray(predictions.members, dtype=object), n),
        "example_id": np.tile(predictions.ids, members),
    }
    if predictions.is_classification:
        frame["target"] = np.tile(predictions.target.astype(np.int64), members)
        frame["pred_label"] = predictions.pred_label.reshape(-1).astype(np.int64)
        frame["true_prob"] = predictions.true_prob.reshape(-1).astype(np.float64)
        frame["confidence"] = predictions.outputs.max(axis=-1).reshape(-1).astype(np.float64)
    else:
        frame["target"] = np.tile(predictions.target.astype(np.float64), members)
        frame["prediction"] = predictions.outputs.reshape(-1).astype(np.float64)
    return pd.DataFrame(frame)
