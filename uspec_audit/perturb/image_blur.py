"""Blur corruptions: defocus, glass, motion, zoom and gaussian blur."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from uspec_audit.perturb.image_common import (
    check_images,
    disk,
    fft_correlate,
    gaussian,
    motion_blur_batch,
    motion_kernel,
    rngs,
    severity,
    to_float,
    to_uint8,
    torch_clipped_zoom,
    torch_correlate,
    torch_float,
    torch_from,
    torch_gaussian,
    torch_to_uint8,
    use_torch,
)

DEFOCUS_BLUR = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))  # disk radius, alias blur
GAUSSIAN_BLUR = (1, 2, 3, 4, 6)  # sigma
GLASS_BLUR = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))  # sigma, max delta, iterations
MOTION_BLUR = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))  # radius, sigma
ZOOM_BLUR = (
    np.arange(1, 1.11, 0.01),
    np.arange(1, 1.16, 0.01),
    np.arange(1, 1.21, 0.02),
    np.arange(1, 1.26, 0.02),
    np.arange(1, 1.31, 0.03),
)


def defocus_blur(images: np.ndarray, ctx: Any) -> np.ndarray:
    """Correlation with an anti-aliased disk of radius 3..10 (OpenCV's reflect-101 border)."""
    images = check_images(images)
    radius, alias = DEFOCUS_BLUR[severity(ctx) - 1]
    kernel = disk(radius, alias)
    if use_torch(ctx):
        return torch_to_uint8(torch_correlate(torch_float(images, ctx), kernel, "reflect"))
    return to_uint8(fft_correlate(to_float(images), kernel, "reflect"))


def gaussian_blur(images: np.ndarray, ctx: Any) -> np.ndarray:
    """Gaussian blur, sigma 1..6 (skimage ``gaussian``: nearest border, truncate 4)."""
    images = check_images(images)
    sigma = GAUSSIAN_BLUR[severity(ctx) - 1]
    if use_torch(ctx):
        return torch_to_uint8(torch_gaussian(torch_float(images, ctx), sigma))
    return to_uint8(gaussian(to_float(images), sigma))


def motion_blur(images: np.ndarray, ctx: Any) -> np.ndarray:
    """Linear motion blur at a random angle in [-45, 45) degrees, radius 10..20.

    The reference (imagecorruptions 1.1.2) sums Gaussian-weighted copies of the
    image shifted along a line with edge replication; here that sum is one
    correlation with the equivalent sparse line kernel (FFT, edge padding),
    which gives the same result up to float rounding.
    """
    images = check_images(images)
    radius, sigma = MOTION_BLUR[severity(ctx) - 1]
    angles = np.array([g.uniform(-45, 45) for g in rngs(ctx, len(images))])
    x = images.astype(np.float32)
    if use_torch(ctx):
        h, w = images.shape[1:3]
        kernels = np.stack([motion_kernel(radius, sigma, a, h, w) for a in angles])
        return torch_to_uint8(torch_correlate(torch_from(x, ctx), kernels, "edge"), scale=1.0)
    return to_uint8(motion_blur_batch(x, radius, sigma, angles), scale=1.0)


def zoom_blur(images: np.ndarray, ctx: Any) -> np.ndarray:
    """Mean of the image and its centre zooms by 1.01 .. 1.30 (bilinear, like scipy ``zoom(order=1)``)."""
    images = check_images(images)
    factors = ZOOM_BLUR[severity(ctx) - 1]
    if use_torch(ctx):
        x = torch_float(images, ctx)
        out = x.clone()
        for z in factors:
            out += torch_clipped_zoom(x, float(z))
        return torch_to_uint8(out / (len(factors) + 1))
    x = to_float(images)
    out = x.copy()
    n, h, w, ch = x.shape
    for z in factors:
        # Pillow's float ("F") bilinear resize with a sub-pixel box is scipy's zoom(order=1) of the
        # centre crop (same sample positions), in C and without the batch-sized temporaries.
        (y0, box_h, keep_h), (x0, box_w, keep_w) = _zoom_box(h, float(z)), _zoom_box(w, float(z))
        box = (x0, y0, x0 + box_w, y0 + box_h)
        for i in range(n):
            for c in range(ch):
                layer = Image.fromarray(x[i, :, :, c], "F").resize(
                    (keep_w, keep_h), Image.Resampling.BILINEAR, box=box
                )
                out[i, :keep_h, :keep_w, c] += np.asarray(layer)
    return to_uint8(out / np.float32(len(factors) + 1))


def _zoom_box(n: int, factor: float) -> tuple[float, float, int]:
    """Pillow box start, box length and output length reproducing ``clipped_zoom`` along one axis."""
    crop = int(np.ceil(n / factor))
    top = (n - crop) // 2
    size = int(round(crop * factor))
    step = (crop - 1) / (size - 1) if size > 1 else 1.0
    keep = min(size, n)
    return top + 0.5 - 0.5 * step, keep * step, keep


def _glass_swaps(x: np.ndarray, delta: int, iterations: int, gens: list[np.random.Generator]) -> None:
    """The "local pixel swaps" of glass blur, in place on (B, H, W, C), vectorized and exact.

    The reference visits every pixel ``(h, w)`` with ``delta < h, w <= size - delta``
    in reverse raster order, draws ``dx, dy`` uniform in ``[-delta, delta)`` and
    runs ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` with ``(h', w') = (h + dy, w + dx)``.
    On numpy arrays both sides are views, so this is not a swap: ``x[h, w]``
    takes the value of ``x[h', w']`` and ``x[h', w']`` keeps it (a known quirk
    of the ImageNet-C code that defines the benchmark, reproduced here). The
    copies are sequential: a pixel may read a neighbour updated earlier in the
    pass. A visit at ``p`` only touches pixels within ``delta`` of ``p``, so two
    visits can only interact when less than ``2 * delta`` apart in both rows and
    columns; the visits therefore run as a skewed wavefront: those with the
    same ``t = 2 * delta * (h_max - h) + (w_max - w)`` touch disjoint pixels and
    run as one array operation, and every pair of visits that could interact
    runs in the reference's order. The result is exactly the sequential one for
    the same offsets (drawn from the example's generator, in the reference's
    order, so the pixels are not the reference's).
    """
    b, h, w, c = x.shape
    hs = np.arange(delta + 1, h - delta + 1)  # visited rows
    ws = np.arange(delta + 1, w - delta + 1)
    if hs.size == 0 or ws.size == 0:
        return
    hh, ww = np.meshgrid(hs, ws, indexing="ij")
    wave = (2 * delta * (hs[-1] - hh) + (ws[-1] - ww)).ravel()
    order = np.argsort(wave, kind="stable")
    bounds = np.flatnonzero(np.diff(wave[order])) + 1
    bounds = np.concatenate([[0], bounds, [order.size]])
    src = (hh * w + ww).ravel()[order]
    flat = x.reshape(b, h * w, c)
    bidx = np.arange(b)[:, None]
    for _ in range(iterations):
        off = np.stack([g.integers(-delta, delta, size=(2, hs.size * ws.size), dtype=np.int64) for g in gens])
        dst = src[None] + (off[:, 1] * w + off[:, 0])[:, order]  # dx, dy drawn in the reference's order
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            flat[:, src[lo:hi]] = flat[bidx, dst[:, lo:hi]]


def glass_blur(images: np.ndarray, ctx: Any) -> np.ndarray:
    """Gaussian blur, local random pixel swaps, Gaussian blur (sigma 0.7..1.5, delta 1..4).

    Runs on the CPU on every device (the swaps are indexing work).
    """
    images = check_images(images)
    sigma, delta, iterations = GLASS_BLUR[severity(ctx) - 1]
    gens = rngs(ctx, len(images))
    x = to_uint8(gaussian(to_float(images), sigma))
    _glass_swaps(x, delta, iterations, gens)
    return to_uint8(gaussian(to_float(x), sigma))
