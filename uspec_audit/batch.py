"""The unit of data that flows through the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Batch:
    """A batch of raw examples, before any model preprocessing.

    ``inputs`` is modality dependent: images are ``uint8`` arrays shaped
    ``(B, H, W, C)``; tabular rows ``float`` arrays ``(B, F)``; sequences
    ``float`` arrays ``(B, T, F)``; text a ``numpy`` object array of ``str``.
    ``ids`` are stable example ids (``int64`` or ``str``): the same example
    keeps its id across runs, shards and perturbations.
    """

    ids: np.ndarray
    inputs: Any
    targets: np.ndarray | None = None
    attributes: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def replace_inputs(self, inputs: Any) -> Batch:
        """A copy of this batch with other inputs (ids, targets, attributes shared)."""
        return Batch(ids=self.ids, inputs=inputs, targets=self.targets, attributes=self.attributes)
