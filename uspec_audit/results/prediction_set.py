"""In-memory view of one work unit's per-example predictions for all members."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class PredictionSet:
    """Predictions of every member of one ensemble on one (test, variant).

    Arrays are aligned: column ``i`` of every ``(M, n)`` matrix is example
    ``ids[i]``; row ``m`` is member ``members[m]``.

    - ``outputs``: classification: probabilities ``(M, n, K)``; regression:
      predictions ``(M, n)``.
    - ``pred_label``: ``(M, n)`` int (classification only: a ValueError for regression).
    - ``true_prob``: ``(M, n)`` probability of the true class (classification)
      or the prediction itself (regression).
    - ``correct``: ``(M, n)`` bool (classification only: a ValueError for regression).
    - ``attributes``: per-example attribute arrays ``(n,)``.
    - ``groups``: per-member group label (nested seeds) or ``None``.
    """

    ensemble: str
    test: str
    variant: str
    task: str
    members: list[str]
    ids: np.ndarray
    target: np.ndarray
    outputs: np.ndarray
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    groups: list[str | None] | None = None

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    @property
    def pred_label(self) -> np.ndarray:
        if not self.is_classification:
            raise ValueError("a regression prediction set has no predicted labels")
        return self.outputs.argmax(axis=-1)

    @property
    def true_prob(self) -> np.ndarray:
        if not self.is_classification:
            return self.outputs
        idx = self.target.astype(np.int64)[None, :, None]
        return np.take_along_axis(self.outputs, np.broadcast_to(idx, self.outputs.shape[:2] + (1,)), axis=-1)[
            ..., 0
        ]

    @property
    def correct(self) -> np.ndarray:
        if not self.is_classification:
            raise ValueError("a regression prediction set has no correct labels")
        return np.asarray(self.pred_label == self.target.astype(np.int64)[None, :])
