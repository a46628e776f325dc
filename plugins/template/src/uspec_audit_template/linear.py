"""The loader ``template/linear``: linear classifiers stored as ``.npz`` files (``weight`` (d, k), ``bias`` (k,)).

It shows what a loader receives (a :class:`uspec_audit.LoadRequest` with its validated options) and what it
returns (a :class:`uspec_audit.Member`): here a frozen dataclass -- the engine never writes to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from uspec_audit import LoadRequest, RunError, file_sha256


class LinearOptions(BaseModel):
    """``options = {...}`` of an ensemble with ``loader = "template/linear"``."""

    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(
        1.0, gt=0, description="Divide the logits by this (calibration by temperature)."
    )


@dataclass(frozen=True)
class LinearMember:
    """logits = (x @ weight + bias) / temperature, with x each example flattened."""

    weight: np.ndarray
    bias: np.ndarray
    temperature: float
    fingerprint: str  # the file's sha256: part of every cache key, recorded in the manifest
    providers: tuple[str, ...] = ("numpy",)

    @property
    def input_shape(self) -> list:
        """What preprocess.layout = "auto" resolves against: one flat vector per example."""
        return [None, self.weight.shape[0]]

    def predict(self, x: np.ndarray) -> np.ndarray:
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        return (flat @ self.weight + self.bias) / self.temperature


def load_linear(request: LoadRequest) -> LinearMember:
    """Read ``weight`` and ``bias`` from the member's ``.npz`` (no pickles)."""
    try:
        with np.load(request.path, allow_pickle=False) as archive:
            weight, bias = archive["weight"].astype(np.float64), archive["bias"].astype(np.float64)
    except (OSError, KeyError, ValueError) as error:
        raise RunError(
            f"{request.path}: not a template/linear model ({error}); it needs arrays weight and bias."
        ) from error
    if weight.ndim != 2 or bias.shape != (weight.shape[1],):
        raise RunError(f"{request.path}: weight {list(weight.shape)} and bias {list(bias.shape)} do not fit.")
    options = request.options  # a validated LinearOptions
    return LinearMember(weight, bias, options.temperature, file_sha256(request.path))
