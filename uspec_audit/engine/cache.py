"""The prediction cache: one file per finished unit (ensemble x dataset x variant).

Keys are content fingerprints (member file hashes, dataset fingerprint,
variant spec and perturbation version, preprocessing, the audit seed for
seeded variants), so a re-run or an interrupted run recomputes only what is
missing, and any change to a model, the data or a setting recomputes exactly
the units it touches. A unit is written to a temporary file and renamed into
place when complete, so a crash never leaves a half-written unit behind.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class UnitPredictions:
    """Every member's outputs on one dataset variant: probabilities (M, n, K) or predictions (M, n)."""

    members: list[str]
    ids: np.ndarray
    target: np.ndarray
    outputs: np.ndarray
    seconds: float = 0.0


class PredictionCache:
    """Read and write finished units under ``folder``."""

    def __init__(self, folder: Path, enabled: bool = True):
        self.folder = Path(folder)
        self.enabled = enabled

    def remove_partial_writes(self) -> None:
        """Delete temp files left by a run that was killed mid-write."""
        for partial in self.folder.glob(".tmp-*"):
            partial.unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def has(self, key: str) -> bool:
        """Whether a finished unit can be reused (never, when the cache is disabled by --fresh)."""
        return self.enabled and self._path(key).exists()

    def get(self, key: str) -> UnitPredictions | None:
        """The stored unit, or None when absent or unreadable (written units are always readable)."""
        path = self._path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return UnitPredictions(members=[str(m) for m in data["members"]], ids=data["ids"],
                                       target=data["target"], outputs=data["outputs"],
                                       seconds=float(data["seconds"]))
        except (OSError, ValueError, KeyError):
            return None  # unreadable: recompute

    def put(self, key: str, unit: UnitPredictions) -> None:
        """Write a finished unit atomically (temp file, then rename)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, members=np.asarray(unit.members, dtype=str), ids=unit.ids, target=unit.target,
                         outputs=unit.outputs, seconds=np.float64(unit.seconds))
            os.replace(temporary, self._path(key))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
