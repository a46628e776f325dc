"""The contrastive kind's table: flips within matched sets, and between examples and their transformed versions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from uspec_audit.errors import RunError
from uspec_audit.kind_api import KindTest, TablesRequest

if TYPE_CHECKING:
    from uspec_audit.kinds.contrastive import ContrastiveParams
from uspec_audit.stats.flips import (
    calibrate_thresholds,
    matched_set_flips_table,
    paired_flips_table,
    risk_scores,
)


def _original_mask(predictions, original: dict | None) -> np.ndarray | None:
    if not original:
        return None
    mask = np.ones(len(predictions.ids), dtype=bool)
    for attribute, value in original.items():
        if attribute not in predictions.attributes:
            raise RunError(
                f"test '{predictions.test}': `original` names attribute '{attribute}', which the dataset "
                f"does not declare in `attributes`."
            )
        mask &= np.asarray(predictions.attributes[attribute]).astype(str) == str(value)
    return mask


def _thresholds(test: KindTest, ensemble: str, reference: str | None, load_predictions: Callable):
    config = cast("ContrastiveParams", test.params).threshold
    if config is None:
        return None, 1
    if reference is None:
        raise RunError(
            f"test '{test.name}': decision thresholds are calibrated on the iid test, and "
            f"ensemble '{ensemble}' has none."
        )
    ref = load_predictions(ensemble, reference, "none")
    target = (np.asarray(ref.target).astype(np.int64) == config.positive_class).astype(np.int64)
    scores = risk_scores(ref, config.positive_class)
    return calibrate_thresholds(scores, target, config.target, config.value), config.positive_class


def contrastive_flips(request: TablesRequest) -> pd.DataFrame | None:
    """The ``flips.parquet`` rows of the contrastive tests, or None when they produced none."""
    frames = []
    load_predictions = request.load_predictions
    for test in request.tests:
        for ensemble in test.ensembles:
            original = load_predictions(ensemble, test.name, "none")
            params = cast("ContrastiveParams", test.params)
            if params.link:
                set_ids = np.asarray(original.attributes[params.link])
                frames.append(
                    matched_set_flips_table(original, set_ids, _original_mask(original, params.original))
                )
            transformed = [v for v in test.variants if v.perturbation is not None]
            if transformed:
                thresholds, positive = _thresholds(
                    test, ensemble, request.references.get(ensemble), load_predictions
                )
                for variant in transformed:
                    counterfactual = load_predictions(ensemble, test.name, variant.label)
                    frames.append(paired_flips_table(original, counterfactual, thresholds, positive))
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True)
