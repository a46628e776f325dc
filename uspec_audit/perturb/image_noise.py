"""Noise corruptions: gaussian, shot (Poisson), impulse (salt and pepper), speckle.

The random numbers are drawn with numpy from each example's generator (also on
the GPU path, which then does the arithmetic on the device), so ``cpu`` and
``cuda`` give the same pixels up to float rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from uspec_audit.perturb.image_common import (
    check_images,
    rngs,
    severity,
    to_float,
    to_uint8,
    torch_float,
    torch_from,
    torch_to_uint8,
    use_torch,
)

GAUSSIAN_NOISE = (0.08, 0.12, 0.18, 0.26, 0.38)
SHOT_NOISE = (60, 25, 12, 5, 3)
IMPULSE_NOISE = (0.03, 0.06, 0.09, 0.17, 0.27)
SPECKLE_NOISE = (0.15, 0.2, 0.35, 0.45, 0.6)


def _normals(images: np.ndarray, ctx: Any) -> np.ndarray:
    shape = images.shape[1:]
    return np.stack([g.standard_normal(shape, dtype=np.float32) for g in rngs(ctx, len(images))])


def gaussian_noise(images: np.ndarray, ctx: Any) -> np.ndarray:
    """``x + N(0, c^2)`` on ``[0, 1]``, c = 0.08 .. 0.38."""
    images = check_images(images)
    c = np.float32(GAUSSIAN_NOISE[severity(ctx) - 1])
    noise = _normals(images, ctx)
    if use_torch(ctx):
        return torch_to_uint8(torch_float(images, ctx) + torch_from(noise, ctx) * c)
    return to_uint8(to_float(images) + noise * c)


def speckle_noise(images: np.ndarray, ctx: Any) -> np.ndarray:
    """``x + x * N(0, c^2)`` on ``[0, 1]``, c = 0.15 .. 0.6."""
    images = check_images(images)
    c = np.float32(SPECKLE_NOISE[severity(ctx) - 1])
    noise = _normals(images, ctx)
    if use_torch(ctx):
        x = torch_float(images, ctx)
        return torch_to_uint8(x + x * torch_from(noise, ctx) * c)
    x = to_float(images)
    return to_uint8(x + x * noise * c)


def shot_noise(images: np.ndarray, ctx: Any) -> np.ndarray:
    """``Poisson(x * c) / c`` on ``[0, 1]``, c = 60 .. 3 photons at full scale."""
    images = check_images(images)
    c = SHOT_NOISE[severity(ctx) - 1]
    lam = images.astype(np.float64) * (c / 255.0)
    counts = np.stack([g.poisson(lam[i]).astype(np.float32) for i, g in enumerate(rngs(ctx, len(images)))])
    if use_torch(ctx):
        return torch_to_uint8(torch_from(counts, ctx) / float(c))
    return to_uint8(counts / np.float32(c))


def impulse_noise(images: np.ndarray, ctx: Any) -> np.ndarray:
    """Salt-and-pepper noise on a fraction ``c`` of the values (skimage ``random_noise(mode='s&p')``).

    As in skimage, a value is replaced with probability ``amount`` and becomes
    salt (1) or pepper (0) with equal probability, independently per channel.
    """
    images = check_images(images)
    amount = IMPULSE_NOISE[severity(ctx) - 1]
    shape = images.shape[1:]
    u = np.stack([g.random((2,) + shape, dtype=np.float32) for g in rngs(ctx, len(images))])
    hit, salt = u[:, 0] < amount, u[:, 1] < 0.5
    if use_torch(ctx):
        import torch

        t = torch_from(images, ctx)
        t = torch.where(torch_from(hit, ctx), torch_from(salt, ctx).to(torch.uint8) * 255, t)
        return t.cpu().numpy()
    return np.where(hit, salt.astype(np.uint8) * np.uint8(255), images)
