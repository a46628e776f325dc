"""Per-example seeds of perturbations: (audit seed, example id, perturbation, severity) -> uint64.

Derived by hashing, never from a running generator, so an example's pixels do
not depend on batch size, order, resumption or sharding.
"""

from __future__ import annotations

import hashlib

import numpy as np

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return x ^ (x >> np.uint64(31))


def _id_hashes(ids: np.ndarray) -> np.ndarray:
    if np.issubdtype(np.asarray(ids).dtype, np.integer):
        return np.asarray(ids).astype(np.int64).view(np.uint64)
    return np.array(
        [int.from_bytes(hashlib.sha256(str(i).encode()).digest()[:8], "little") for i in ids], dtype=np.uint64
    )


def example_seeds(audit_seed: int, ids: np.ndarray, perturbation: str, severity: int | None) -> np.ndarray:
    """One uint64 seed per example id."""
    base = hashlib.sha256(f"{audit_seed}|{perturbation}|{severity}".encode()).digest()
    base_value = np.uint64(int.from_bytes(base[:8], "little"))
    return _splitmix64(_splitmix64(_id_hashes(ids) ^ base_value))
