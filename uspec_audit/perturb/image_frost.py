"""Procedural frost textures for the ``frost`` corruption.

ImageNet-C overlays crops of five photographs of frosted glass. Those photos
are not redistributed here; instead five textures are generated
deterministically (fixed seeds, numpy + scipy only, so every run and every
machine builds the same pixels): needle-like ice crystals (sparse seeds drawn
along random orientations, i.e. line kernels applied to sparse noise, at two
scales), a dendritic fine structure (thresholded gradient magnitude of
band-pass noise) and a cloudy low-frequency layer. Each texture is then matched
per channel to the mean and standard deviation of the photograph it stands in
for (sizes too), so the corruption changes images by the same amount on
average (see ``benchmarks/corruptions.py``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy  # scipy.fft and scipy.ndimage load on first use: the registry imports this module at start-up
from PIL import Image

# (height, width, per-channel RGB mean, per-channel RGB sd) of frost1..5 of imagecorruptions
# (frost2 and frost3 are the same photograph there).
FROST_TEXTURES = (
    ((600, 900), (77.7, 149.1, 165.7), (26.9, 16.5, 15.3)),
    ((315, 560), (200.8, 205.4, 214.5), (21.4, 22.1, 22.6)),
    ((315, 560), (200.8, 205.4, 214.5), (21.4, 22.1, 22.6)),
    ((350, 527), (137.6, 152.8, 165.2), (28.5, 28.5, 29.9)),
    ((495, 660), (112.4, 123.4, 134.8), (44.4, 43.3, 41.7)),
)
_TEXTURE_SEED = 20190328  # the ImageNet-C paper's arXiv date; any fixed number would do


def _line_kernel(length: int, angle: float) -> np.ndarray:
    r = length // 2
    k = np.zeros((2 * r + 1, 2 * r + 1), dtype=np.float32)
    t = np.linspace(-r, r, 4 * r + 1)
    ys = np.round(r + t * np.sin(angle)).astype(int)
    xs = np.round(r + t * np.cos(angle)).astype(int)
    k[ys, xs] = 1.0
    return k / k.sum()


def _needles(rng: np.random.Generator, shape: tuple[int, int], density: float, length: int, n_angles: int):
    out = np.zeros(shape, dtype=np.float32)
    for angle in rng.uniform(0, np.pi, size=n_angles):
        seeds = (rng.random(shape) < density).astype(np.float32) * rng.uniform(0.5, 1.0, size=shape).astype(
            np.float32
        )
        kernel = np.zeros(shape, dtype=np.float32)
        line = _line_kernel(length, angle)
        r = line.shape[0] // 2
        kernel[: line.shape[0], : line.shape[1]] = line
        kernel = np.roll(kernel, (-r, -r), axis=(0, 1))
        streak = scipy.fft.irfft2(scipy.fft.rfft2(seeds) * scipy.fft.rfft2(kernel), s=shape).astype(
            np.float32
        )
        out = np.maximum(out, streak)
    return out / max(float(out.max()), 1e-6)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Low-frequency noise: Gaussian-filtered noise on a 1/16 grid, upsampled bilinearly."""
    small = (shape[0] // 16 + 2, shape[1] // 16 + 2) + tuple(shape[2:])
    noise = rng.standard_normal(small).astype(np.float32)
    noise = scipy.ndimage.gaussian_filter(
        noise, (sigma / 16, sigma / 16) + (0,) * (len(shape) - 2), mode="wrap"
    )
    zoom = (shape[0] / small[0], shape[1] / small[1]) + (1,) * (len(shape) - 2)
    up = scipy.ndimage.zoom(noise, zoom, order=1, grid_mode=True, mode="grid-wrap")
    return up[: shape[0], : shape[1]]


def _standardize(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / max(float(a.std()), 1e-6)


@lru_cache(maxsize=8)
def frost_texture(index: int) -> np.ndarray:
    """Frost texture ``index`` (0..4) as uint8 (h, w, 3), deterministic."""
    (h, w), mean, sd = FROST_TEXTURES[index]
    rng = np.random.default_rng([_TEXTURE_SEED, index])
    long_needles = _needles(rng, (h, w), 0.0015, 31, 7)
    short_needles = _needles(rng, (h, w), 0.01, 9, 5)
    band = scipy.ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), 1.5, mode="wrap")
    band -= scipy.ndimage.gaussian_filter(band, 4.0, mode="wrap")
    grad = np.hypot(scipy.ndimage.sobel(band, 0, mode="wrap"), scipy.ndimage.sobel(band, 1, mode="wrap"))
    dendrites = np.clip(grad / (np.quantile(grad, 0.98) + 1e-6), 0, 1) ** 2
    cloud = _smooth_noise(rng, (h, w), 30.0)
    z = (
        1.0 * _standardize(long_needles)
        + 0.6 * _standardize(short_needles)
        + 0.5 * _standardize(dendrites)
        + 0.9 * _standardize(cloud)
    )
    z = _standardize(z)
    tint = _smooth_noise(rng, (h, w, 3), 40.0)
    tint = 0.08 * tint / max(float(tint.std()), 1e-6)
    rgb = np.asarray(mean, np.float32) + np.asarray(sd, np.float32) * (z[..., None] + tint)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


@lru_cache(maxsize=64)
def frost_resized(index: int, h: int, w: int) -> np.ndarray:
    """Texture ``index`` rescaled like imagecorruptions does for an image of h x w (bicubic)."""
    tex = frost_texture(index)
    th, tw = tex.shape[:2]
    if th >= h and tw >= w:
        scale = 1.0
    elif th < h and tw >= w:
        scale = h / th
    elif th >= h and tw < w:
        scale = w / tw
    else:
        scale = max(h / th, w / tw)
    scale *= 1.1
    size = (int(np.ceil(tw * scale)), int(np.ceil(th * scale)))
    return np.asarray(Image.fromarray(tex).resize(size, Image.Resampling.BICUBIC))
