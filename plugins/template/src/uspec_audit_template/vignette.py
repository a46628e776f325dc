"""The perturbation ``template/vignette``: darkened image corners, like a cheap lens."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from uspec_audit import PerturbContext


class VignetteParams(BaseModel):
    """Parameters of ``template/vignette``; unknown keys are errors in the audit file."""

    model_config = ConfigDict(extra="forbid")
    strength: float | None = Field(
        None, gt=0, le=1, description="Darkening at the corners (default by severity)."
    )
    radius: float = Field(
        1.0, gt=0, le=2, description="Where darkening starts, as a share of the half-diagonal."
    )
    jitter: float = Field(0.05, ge=0, le=0.5, description="Per-example random variation of the strength.")


STRENGTH_BY_SEVERITY = {1: 0.2, 2: 0.35, 3: 0.5, 4: 0.65, 5: 0.8}


def vignette(images: np.ndarray, ctx: PerturbContext) -> np.ndarray:
    """Darken the corners: pixel *= 1 - strength * clip((r/R - radius_start) / (1 - radius_start), 0, 1)^2."""
    params = ctx.params or VignetteParams()
    base = params.strength if params.strength is not None else STRENGTH_BY_SEVERITY[ctx.severity or 3]
    # one draw per example from its own seed: independent of batch composition and of reruns
    jitter = np.array(
        [np.random.default_rng(seed).uniform(-params.jitter, params.jitter) for seed in ctx.seeds]
    )
    strength = np.clip(base + jitter, 0.0, 1.0)
    _, height, width, _ = images.shape
    yy, xx = np.mgrid[0:height, 0:width]
    radius = np.hypot((yy - (height - 1) / 2) / (height / 2), (xx - (width - 1) / 2) / (width / 2)) / np.sqrt(
        2
    )
    start = min(params.radius, 0.999) * 0.5
    falloff = np.clip((radius - start) / (1 - start), 0, 1) ** 2
    factor = 1.0 - strength[:, None, None, None] * falloff[None, :, :, None]
    # back to the input's scale and dtype: uint8 images stay uint8 in 0..255
    return np.clip(np.rint(images.astype(np.float32) * factor), 0, 255).astype(np.uint8)
