"""Digital corruptions: brightness, contrast, saturate, pixelate, JPEG, elastic transform.

Brightness and saturate change one HSV component with hue fixed; both are done
directly in RGB (closed forms of skimage's ``rgb2hsv``/``hsv2rgb`` round trip):
with ``V = max(r, g, b)`` and ``S = (V - min) / V``, every channel is
``V * (1 - S * f(H))``, so a new ``V'`` scales the pixel by ``V' / V`` and a new
``S'`` maps each channel to ``V - (S' / S) * (V - x)``; grey pixels (``S = 0``,
hue 0 in skimage) become ``(V, V (1 - S'), V (1 - S'))``.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from uspec_audit.perturb.image_common import (
    check_images,
    gaussian,
    rngs,
    severity,
    to_float,
    to_uint8,
    torch_float,
    torch_from,
    torch_to_uint8,
    use_torch,
)

BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)
CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)
SATURATE = ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2))  # factor, offset on S
PIXELATE = (0.6, 0.5, 0.4, 0.3, 0.25)
JPEG_QUALITY = (25, 18, 15, 10, 7)
ELASTIC_ALPHA = (250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12)


def _backend(images: np.ndarray, ctx: Any):
    """(float batch in [0, 1], module) for numpy or torch."""
    if use_torch(ctx):
        import torch

        return torch_float(images, ctx), torch
    return to_float(images), np


def _finish(x, xp) -> np.ndarray:
    return torch_to_uint8(x) if xp is not np else to_uint8(x)


def brightness(images: np.ndarray, ctx: Any) -> np.ndarray:
    """HSV value + 0.1 .. 0.5 (grayscale: x + c)."""
    images = check_images(images)
    c = BRIGHTNESS[severity(ctx) - 1]
    x, xp = _backend(images, ctx)
    if images.shape[-1] == 1:
        return _finish(x + c, xp)
    v = x.max(-1, keepdims=True) if xp is np else x.amax(-1, keepdim=True)
    v_new = xp.clip(v + c, 0, 1) if xp is np else xp.clamp(v + c, 0, 1)
    safe = xp.where(v > 0, v, xp.ones_like(v))
    return _finish(xp.where(v > 0, x * (v_new / safe), v_new), xp)


def contrast(images: np.ndarray, ctx: Any) -> np.ndarray:
    """Blend towards the per-image, per-channel mean: ``(x - mean) * c + mean``, c = 0.4 .. 0.05."""
    images = check_images(images)
    c = CONTRAST[severity(ctx) - 1]
    x, xp = _backend(images, ctx)
    if xp is np:
        means = x.astype(np.float64).mean(axis=(1, 2), keepdims=True).astype(np.float32)
    else:
        means = x.double().mean(dim=(1, 2), keepdim=True).float()
    return _finish((x - means) * c + means, xp)


def saturate(images: np.ndarray, ctx: Any) -> np.ndarray:
    """HSV saturation ``clip(S * a + b)``; grayscale images are unchanged (their saturation is 0)."""
    images = check_images(images)
    if images.shape[-1] == 1:
        return images.copy()
    a, off = SATURATE[severity(ctx) - 1]
    x, xp = _backend(images, ctx)
    if xp is np:
        v, lo = x.max(-1, keepdims=True), x.min(-1, keepdims=True)
    else:
        v, lo = x.amax(-1, keepdim=True), x.amin(-1, keepdim=True)
    delta = v - lo
    s = xp.where(v > 0, delta / xp.where(v > 0, v, xp.ones_like(v)), xp.zeros_like(v))
    s_new = s * a + off
    s_new = xp.clip(s_new, 0, 1) if xp is np else xp.clamp(s_new, 0, 1)
    ratio = s_new / xp.where(delta > 0, s, xp.ones_like(s))
    colored = v - ratio * (v - x)
    grey_r = v
    grey_gb = v * (1 - s_new)
    if xp is np:
        grey = np.concatenate([grey_r, grey_gb, grey_gb], axis=-1)
    else:
        grey = xp.cat([grey_r, grey_gb, grey_gb], dim=-1)
    return _finish(xp.where(delta > 0, colored, grey), xp)


# ---------------------------------------------------------------- pixelate


@lru_cache(maxsize=64)
def _box_matrix(in_size: int, out_size: int) -> np.ndarray:
    """PIL's BOX resampling coefficients (out_size, in_size)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    mat = np.zeros((out_size, in_size), dtype=np.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        pos = (np.arange(xmin, xmax) - center + 0.5) / filterscale
        wts = ((pos > -0.5) & (pos <= 0.5)).astype(np.float64)
        mat[xx, xmin:xmax] = wts / max(wts.sum(), 1e-12)
    return mat.astype(np.float32)


def _nearest_index(in_size: int, out_size: int) -> np.ndarray:
    """PIL's NEAREST resize: source ``int(x)`` of a coordinate walked by repeated addition of in/out."""
    scale = in_size / out_size
    walk = np.add.accumulate(np.concatenate([[scale * 0.5], np.full(out_size - 1, scale)]))
    return np.minimum(walk.astype(np.int64), in_size - 1)


def pixelate(images: np.ndarray, ctx: Any) -> np.ndarray:
    """PIL BOX downsampling to 0.6 .. 0.25 of the size, then NEAREST upsampling (as imagecorruptions)."""
    images = check_images(images)
    c = PIXELATE[severity(ctx) - 1]
    h, w = images.shape[1:3]
    sh, sw = int(h * c), int(w * c)
    # PIL resamples horizontally then vertically, rounding half up to uint8 after each pass;
    # box averages of n <= 5 taps are either ties (exactly .5) or >= 1/n away from one,
    # so ``floor(v + 0.5 + 1e-3)`` reproduces PIL's fixed-point rounding in float32.
    if use_torch(ctx):
        import torch

        mh, mw = _box_matrix(h, sh), _box_matrix(w, sw)
        iy, ix = _nearest_index(sh, h), _nearest_index(sw, w)
        t = torch_from(images.astype(np.float32), ctx).permute(0, 1, 3, 2)  # (B, H, C, W)
        t = torch.floor(t @ torch_from(mw.T.copy(), ctx) + 0.501)  # (B, H, C, w)
        nb, _, nc, _ = t.shape
        t = torch.floor(torch_from(mh, ctx) @ t.reshape(nb, h, nc * sw) + 0.501).reshape(nb, sh, nc, sw)
        t = t.permute(0, 1, 3, 2)[:, torch_from(iy, ctx)][:, :, torch_from(ix, ctx)]
        return torch_to_uint8(t, scale=1.0)
    # On the CPU, Pillow itself (per image, C code on uint8) is faster than any numpy formulation.
    out = np.empty_like(images)
    for i, img in enumerate(images):
        pil = Image.fromarray(img[..., 0], "L") if img.shape[-1] == 1 else Image.fromarray(img, "RGB")
        small = pil.resize((sw, sh), Image.Resampling.BOX).resize((w, h), Image.Resampling.NEAREST)
        out[i] = np.asarray(small).reshape(h, w, -1)
    return out


# ---------------------------------------------------------------- jpeg


def jpeg_compression(images: np.ndarray, ctx: Any) -> np.ndarray:
    """JPEG round trip through Pillow at quality 25 .. 7 (CPU on every device)."""
    images = check_images(images)
    quality = JPEG_QUALITY[severity(ctx) - 1]
    out = np.empty_like(images)
    for i, img in enumerate(images):
        pil = Image.fromarray(img[..., 0], "L") if img.shape[-1] == 1 else Image.fromarray(img, "RGB")
        buf = io.BytesIO()
        pil.save(buf, "JPEG", quality=quality)
        buf.seek(0)
        dec = np.asarray(Image.open(buf))
        out[i] = dec[..., None] if dec.ndim == 2 else dec
    return out


# ---------------------------------------------------------------- elastic


def _reflect(coord: np.ndarray, n: int) -> np.ndarray:
    """Map coordinates into [-0.5, n - 0.5] by half-sample symmetric reflection (scipy ``mode='reflect'``)."""
    period = 2 * n
    c = np.mod(coord + np.float32(0.5), period)
    c = np.where(c > n, period - c, c)
    return c - 0.5


def elastic_transform(images: np.ndarray, ctx: Any) -> np.ndarray:
    """Smooth random displacement field (uniform noise, Gaussian sigma 1% of the size), bilinear resampling.

    imagecorruptions' variant: displacement ``alpha * gaussian(U(-0.005 H, 0.005 H))``
    with alpha = 12.5 .. 30, reflect border (CPU on every device).
    """
    images = check_images(images)
    alpha = ELASTIC_ALPHA[severity(ctx) - 1]
    n, h, w, ch = images.shape
    max_d = h * 0.005
    draws = np.stack([g.uniform(-max_d, max_d, size=(2, h, w)) for g in rngs(ctx, n)]).astype(np.float32)
    sig = (h * 0.01, w * 0.01)
    dx = gaussian(draws[:, 0], sig, mode="reflect", truncate=3) * np.float32(alpha)
    dy = gaussian(draws[:, 1], sig, mode="reflect", truncate=3) * np.float32(alpha)
    yy = _reflect(np.arange(h, dtype=np.float32)[None, :, None] + dy, h)
    xx = _reflect(np.arange(w, dtype=np.float32)[None, None, :] + dx, w)
    # bilinear gather from the symmetric-padded batch, as rows of a (B * (H+2) * (W+2), C) table
    pad = np.pad(to_float(images), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="symmetric").reshape(-1, ch)
    y0 = np.floor(yy)
    x0 = np.floor(xx)
    wy = (yy - y0)[..., None]
    wx = (xx - x0)[..., None]
    stride = w + 2
    base = (
        (np.arange(n)[:, None, None] * (h + 2) + y0.astype(np.int64) + 1) * stride + x0.astype(np.int64) + 1
    )

    def at(offset: int) -> np.ndarray:
        return np.take(pad, base + offset, axis=0)

    top = at(0) + (at(1) - at(0)) * wx
    bottom = at(stride) + (at(stride + 1) - at(stride)) * wx
    return to_uint8(top + (bottom - top) * wy)
