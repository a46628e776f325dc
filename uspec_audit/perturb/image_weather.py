"""Weather corruptions: snow, frost, fog and spatter (CPU on every device)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy  # scipy.fft and scipy.ndimage load on first use: the registry imports this module at start-up

from uspec_audit.perturb.image_common import (
    check_images,
    clipped_zoom,
    gaussian,
    gray,
    motion_blur_batch,
    rngs,
    severity,
    to_float,
    to_uint8,
)
from uspec_audit.perturb.image_frost import frost_resized

FOG = ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))  # strength, wibble decay
FROST = ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))  # image weight, frost weight
SNOW = (
    (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
    (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
    (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
    (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
    (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
)  # mean, sd, zoom, threshold, blur radius, blur sigma, image weight
SPATTER = (
    (0.65, 0.3, 4, 0.69, 0.6, 0),
    (0.65, 0.3, 3, 0.68, 0.6, 0),
    (0.65, 0.3, 2, 0.68, 0.5, 0),
    (0.65, 0.3, 1, 0.65, 1.5, 1),
    (0.67, 0.4, 1, 0.65, 1.5, 1),
)  # mean, sd, sigma, threshold, intensity, mud (0: water)


# ---------------------------------------------------------------- fog


def plasma_fractal(gens: list[np.random.Generator], mapsize: int, wibbledecay: float) -> np.ndarray:
    """Diamond-square height maps in [0, 1], (B, mapsize, mapsize), one per generator.

    The reference's algorithm, batched: each step draws its uniform noise per
    example, then updates all maps at once.
    """
    b = len(gens)
    maps = np.zeros((b, mapsize, mapsize), dtype=np.float64)
    stepsize = mapsize
    wibble = 100.0

    def wibbled(arr: np.ndarray) -> np.ndarray:
        u = np.stack([g.uniform(-wibble, wibble, arr.shape[1:]) for g in gens])
        return arr / 4 + wibble * u

    while stepsize >= 2:
        half = stepsize // 2
        corners = maps[:, 0:mapsize:stepsize, 0:mapsize:stepsize]
        acc = corners + np.roll(corners, -1, axis=1)
        acc = acc + np.roll(acc, -1, axis=2)
        maps[:, half:mapsize:stepsize, half:mapsize:stepsize] = wibbled(acc)
        dr = maps[:, half:mapsize:stepsize, half:mapsize:stepsize]
        ul = maps[:, 0:mapsize:stepsize, 0:mapsize:stepsize]
        lt = dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=2)
        maps[:, 0:mapsize:stepsize, half:mapsize:stepsize] = wibbled(lt)
        tt = dr + np.roll(dr, 1, axis=2) + ul + np.roll(ul, -1, axis=1)
        maps[:, half:mapsize:stepsize, 0:mapsize:stepsize] = wibbled(tt)
        stepsize //= 2
        wibble /= wibbledecay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def fog(images: np.ndarray, ctx: Any) -> np.ndarray:
    """Add a plasma-fractal haze (diamond-square), then rescale to the image's maximum."""
    images = check_images(images)
    strength, decay = FOG[severity(ctx) - 1]
    h, w = images.shape[1:3]
    mapsize = 1 << (max(h, w) - 1).bit_length()
    haze = plasma_fractal(rngs(ctx, len(images)), mapsize, decay)[:, :h, :w, None].astype(np.float32)
    x = to_float(images)
    max_val = x.max(axis=(1, 2, 3), keepdims=True)
    x = (x + np.float32(strength) * haze) * max_val / (max_val + np.float32(strength))
    return to_uint8(x)


# ---------------------------------------------------------------- frost


def frost(images: np.ndarray, ctx: Any) -> np.ndarray:
    """``a * x + b * crop(frost texture)`` on [0, 255]; texture and crop drawn per example.

    The textures are procedural stand-ins for the reference photographs
    (:mod:`uspec_audit.perturb.image_frost`); grayscale images get the texture's luma.
    """
    images = check_images(images)
    a, b = FROST[severity(ctx) - 1]
    n, h, w, ch = images.shape
    layers = np.empty((n, h, w, 3), dtype=np.float32)
    for i, g in enumerate(rngs(ctx, n)):
        tex = frost_resized(int(g.integers(5)), h, w)
        y0 = int(g.integers(0, max(tex.shape[0] - h, 1)))
        x0 = int(g.integers(0, max(tex.shape[1] - w, 1)))
        layers[i] = tex[y0 : y0 + h, x0 : x0 + w]
    if ch == 1:
        layers = gray(layers)
    return to_uint8(np.float32(a) * images.astype(np.float32) + np.float32(b) * layers, scale=1.0)


# ---------------------------------------------------------------- snow


def snow(images: np.ndarray, ctx: Any) -> np.ndarray:
    """Zoomed, thresholded Gaussian snow, motion-blurred at a random angle, over a whitened image."""
    images = check_images(images)
    mean, sd, zoom, thresh, radius, sigma, weight = SNOW[severity(ctx) - 1]
    n, h, w, _ = images.shape
    gens = rngs(ctx, n)
    layer = np.stack([g.normal(mean, sd, size=(h, w)).astype(np.float32) for g in gens])[..., None]
    angles = np.array([g.uniform(-135, -45) for g in gens])
    layer = clipped_zoom(layer, zoom, crop=False)
    layer[layer < thresh] = 0
    layer = np.clip(layer, 0, 1)
    layer = motion_blur_batch(layer, radius, sigma, angles)
    layer = np.round(layer * 255).astype(np.uint8).astype(np.float32) / np.float32(255.0)
    layer = layer[:, :h, :w]
    x = to_float(images)
    x = weight * x + (1 - weight) * np.maximum(x, gray(x) * 1.5 + 0.5)
    return to_uint8(x + layer + layer[:, ::-1, ::-1])


# ---------------------------------------------------------------- spatter


def _canny(img: np.ndarray, low: float, high: float) -> np.ndarray:
    """OpenCV-style Canny on uint8 (B, H, W): 3x3 Sobel, L1 magnitude, non-maximum suppression, hysteresis."""
    f = img.astype(np.float32)
    diff, smooth = [-1.0, 0.0, 1.0], [1.0, 2.0, 1.0]  # Sobel along H, W only (never across the batch)
    gx = scipy.ndimage.correlate1d(
        scipy.ndimage.correlate1d(f, diff, axis=2, mode="mirror"), smooth, axis=1, mode="mirror"
    )
    gy = scipy.ndimage.correlate1d(
        scipy.ndimage.correlate1d(f, diff, axis=1, mode="mirror"), smooth, axis=2, mode="mirror"
    )
    mag = np.abs(gx) + np.abs(gy)
    pad = np.pad(mag, ((0, 0), (1, 1), (1, 1)))
    h, w = mag.shape[1:]

    def nb(dy: int, dx: int) -> np.ndarray:
        return pad[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    ax, ay = np.abs(gx), np.abs(gy)
    tan22 = np.float32(0.4142135)
    horiz = ay <= tan22 * ax  # gradient ~ horizontal: compare left/right
    vert = ax <= tan22 * ay
    diag_sign = (gx * gy) > 0
    keep = np.where(
        horiz,
        (mag > nb(0, -1)) & (mag >= nb(0, 1)),
        np.where(
            vert,
            (mag > nb(-1, 0)) & (mag >= nb(1, 0)),
            np.where(
                diag_sign,
                (mag > nb(-1, -1)) & (mag >= nb(1, 1)),
                (mag > nb(-1, 1)) & (mag >= nb(1, -1)),
            ),
        ),
    )
    weak = keep & (mag > low)
    strong = keep & (mag > high)
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True
    labels, count = scipy.ndimage.label(weak, structure=structure)
    if count == 0:
        return np.zeros_like(img)
    hit = np.zeros(count + 1, dtype=bool)
    hit[labels[strong]] = True
    hit[0] = False
    return hit[labels].astype(np.uint8) * np.uint8(255)


def _box3(x: np.ndarray) -> np.ndarray:
    """cv2.blur(x, (3, 3)) on (B, H, W) (reflect-101 border)."""
    return scipy.ndimage.uniform_filter(x.astype(np.float32), size=(1, 3, 3), mode="mirror")


def _equalize(x: np.ndarray) -> np.ndarray:
    """cv2.equalizeHist per image of a uint8 (B, H, W)."""
    b = x.shape[0]
    flat = x.reshape(b, -1)
    total = flat.shape[1]
    hist = np.stack([np.bincount(row, minlength=256) for row in flat])
    cdf = np.cumsum(hist, axis=1)
    first = hist[np.arange(b), np.argmax(hist > 0, axis=1)]
    denom = np.maximum(total - first, 1)[:, None]
    lut = np.clip(np.round((cdf - first[:, None]) * (255.0 / denom)), 0, 255).astype(np.uint8)
    lut = np.where((first == total)[:, None], np.arange(256, dtype=np.uint8)[None], lut)
    return np.take_along_axis(lut, flat.astype(np.int64), axis=1).reshape(x.shape)


def _water(liquid: np.ndarray) -> np.ndarray:
    """The reference's water mask ``m`` (B, H, W) from a thresholded liquid layer."""
    liquid8 = (liquid * 255).astype(np.uint8)
    edges = _canny(liquid8, 50, 150)
    not_edge = edges == 0
    dist = np.empty(liquid.shape, dtype=np.float32)
    for i in range(len(dist)):  # distance to the nearest edge, per image
        dist[i] = scipy.ndimage.distance_transform_edt(not_edge[i]) if not not_edge[i].all() else 20.0
    dist = np.minimum(dist, 20.0)
    dist = _box3(dist).astype(np.uint8)
    dist = _equalize(dist)
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)
    dist = scipy.ndimage.correlate(dist.astype(np.float32), emboss[None], mode="mirror")
    dist = np.clip(np.round(dist), 0, 255)
    dist = _box3(dist)
    m = liquid8.astype(np.float32) * dist
    peak = m.max(axis=(1, 2), keepdims=True)
    return np.where(peak > 0, m / np.where(peak > 0, peak, 1), 0).astype(np.float32)


def spatter(images: np.ndarray, ctx: Any) -> np.ndarray:
    """Water drops (severity 1-3, pale turquoise) or mud (4-5, brown) from thresholded blurred noise."""
    images = check_images(images)
    mean, sd, sigma, thresh, intensity, mud = SPATTER[severity(ctx) - 1]
    n, h, w, ch = images.shape
    liquid = np.stack([g.normal(mean, sd, size=(h, w)).astype(np.float32) for g in rngs(ctx, n)])
    liquid = gaussian(liquid, sigma)
    liquid[liquid < thresh] = 0
    x = to_float(images)
    if mud == 0:
        m = _water(liquid) * np.float32(intensity)
        color = np.array([175, 238, 238], dtype=np.float32) / 255.0
        add = np.clip(m[..., None] * color, 0, 1)
        if ch == 1:
            add = gray(add)
        return to_uint8(x + add)
    m = gaussian((liquid > thresh).astype(np.float32), intensity)
    m[m < 0.8] = 0
    color = np.array([63, 42, 20], dtype=np.float32) / 255.0
    add = m[..., None] * color
    if ch == 1:
        add = gray(add)
    return to_uint8(x * (1 - m[..., None]) + add)
