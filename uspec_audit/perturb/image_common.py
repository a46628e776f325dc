"""Shared helpers of the image corruptions (:mod:`uspec_audit.perturb.image`).

Conventions: a batch is ``(B, H, W, C)``; float work happens in ``float32`` in
``[0, 1]`` (or ``[0, 255]`` where the reference works there); the final
conversion truncates like the reference's ``np.uint8(...)``. Random draws come
only from per-example generators (:func:`rngs`), always numpy, also on the GPU
path, so that ``cpu`` and ``cuda`` runs see the same random numbers.
"""

from __future__ import annotations

import importlib.util
import math
from functools import lru_cache
from typing import Any, Literal, cast

import numpy as np
import scipy  # scipy.fft and scipy.ndimage load on first use: the registry imports this module at start-up

#: Force the torch implementation even on ``device="cpu"`` (tests compare it with numpy).
_FORCE_TORCH = False

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def rngs(ctx: Any, n: int) -> list[np.random.Generator]:
    """One generator per example, from ``ctx.seeds``."""
    seeds = np.asarray(ctx.seeds, dtype=np.uint64).reshape(-1)
    if seeds.shape[0] != n:
        raise ValueError(f"PerturbContext.seeds has {seeds.shape[0]} seeds for a batch of {n} images")
    return [np.random.default_rng(int(s)) for s in seeds]


def check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"image perturbations take uint8 arrays (B, H, W, C) with C in (1, 3); got {images.dtype} {images.shape}"
        )
    return images


def severity(ctx: Any) -> int:
    s = 1 if ctx.severity is None else int(ctx.severity)
    if s not in (1, 2, 3, 4, 5):
        raise ValueError(f"image corruptions take severity 1..5, got {ctx.severity!r}")
    return s


@lru_cache(maxsize=1)
def _torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def use_torch(ctx: Any) -> bool:
    """The torch implementation runs for ``device="cuda..."`` (numpy when torch is not installed)."""
    wanted = _FORCE_TORCH or str(getattr(ctx, "device", "cpu")).startswith("cuda")
    return wanted and _torch_available()


def torch_device(ctx: Any) -> str:
    dev = str(getattr(ctx, "device", "cpu"))
    return dev if dev.startswith("cuda") else "cpu"


def to_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) * np.float32(1.0 / 255.0)


def to_uint8(x: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """``np.uint8(clip(x) * scale)`` with the reference's truncation."""
    if scale == 255.0:
        return (np.clip(x, 0.0, 1.0) * np.float32(255.0)).astype(np.uint8)
    return np.clip(x, 0.0, 255.0).astype(np.uint8)


def gray(x: np.ndarray) -> np.ndarray:
    """Luma (B, H, W, 1) of a float batch (identity for C=1)."""
    if x.shape[-1] == 1:
        return x
    return (x @ LUMA)[..., None]


# ---------------------------------------------------------------- filtering


def gaussian(x: np.ndarray, sigma: float | tuple[float, float], mode: str = "nearest", truncate: float = 4.0):
    """skimage.filters.gaussian over the spatial axes of (B, H, W[, C])."""
    sy, sx = (sigma, sigma) if np.isscalar(sigma) else cast(tuple[float, float], sigma)
    sig = (0.0, sy, sx) + ((0.0,) if x.ndim == 4 else ())
    return scipy.ndimage.gaussian_filter(x, sigma=sig, mode=mode, truncate=truncate)


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The kernel scipy.ndimage.gaussian_filter uses."""
    radius = int(truncate * float(sigma) + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def fft_correlate(x: np.ndarray, kernel: np.ndarray, pad_mode: Literal["reflect", "edge"]) -> np.ndarray:
    """Correlate (B, H, W, C) with a centred odd kernel (K, K) or per-example (B, K, K).

    The border is handled by padding with ``np.pad(mode=pad_mode)``: ``"reflect"``
    is OpenCV's default BORDER_REFLECT_101, ``"edge"`` is BORDER_REPLICATE.
    """
    ksize = kernel.shape[-1]
    r = ksize // 2
    h, w = x.shape[1:3]
    xp = np.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode=pad_mode)
    fh = scipy.fft.next_fast_len(xp.shape[1], real=True)
    fw = scipy.fft.next_fast_len(xp.shape[2], real=True)
    big = scipy.fft.rfft2(xp, s=(fh, fw), axes=(1, 2), workers=-1)
    kf = np.ascontiguousarray(kernel[..., ::-1, ::-1]).astype(x.dtype)
    kk = scipy.fft.rfft2(kf, s=(fh, fw), axes=(-2, -1), workers=-1)
    big *= kk[..., None]
    y = scipy.fft.irfft2(big, s=(fh, fw), axes=(1, 2), workers=-1)
    return y[:, ksize - 1 : ksize - 1 + h, ksize - 1 : ksize - 1 + w, :]


def cv2_gaussian_kernel(ksize: int, sigma: float) -> np.ndarray:
    """cv2.getGaussianKernel(ksize, sigma)."""
    t = np.arange(ksize, dtype=np.float64) - (ksize - 1) / 2.0
    k = np.exp(-(t**2) / (2.0 * sigma**2))
    return k / k.sum()


def disk(radius: int, alias_blur: float) -> np.ndarray:
    """The anti-aliased disk of imagecorruptions (cv2.GaussianBlur of an aliased disk)."""
    if radius <= 8:
        coords = np.arange(-8, 9)
        ksize = 3
    else:
        coords = np.arange(-radius, radius + 1)
        ksize = 5
    xx, yy = np.meshgrid(coords, coords)
    d = ((xx**2 + yy**2) <= radius**2).astype(np.float32)
    d /= d.sum()
    g = cv2_gaussian_kernel(ksize, alias_blur)
    r = ksize // 2
    d = np.pad(d, r, mode="reflect")
    d = scipy.ndimage.correlate1d(d, g, axis=0, mode="constant")[r:-r]
    d = scipy.ndimage.correlate1d(d, g, axis=1, mode="constant")[:, r:-r]
    return d.astype(np.float32)


# ---------------------------------------------------------------- motion blur


def motion_kernel(radius: int, sigma: float, angle: float, h: int, w: int) -> np.ndarray:
    """The shift-and-add kernel of imagecorruptions' ``_motion_blur`` as a centred 2-D kernel.

    The reference sums ``kernel[i] * shift(x, dx_i, dy_i)`` with edge replication;
    that is a correlation with weight ``kernel[i]`` at offset ``(-dy_i, -dx_i)``
    on an edge-padded image.
    """
    width = radius * 2 + 1
    t = np.arange(width, dtype=np.float64)
    k = np.exp(-(t**2) / (2 * sigma**2)) / (np.sqrt(2 * np.pi) * sigma)
    k /= k.sum()
    py, px = width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle))
    hyp = math.hypot(py, px)
    out = np.zeros((2 * width + 1, 2 * width + 1), dtype=np.float64)
    for i in range(width):
        dy = -math.ceil(((i * py) / hyp) - 0.5)
        dx = -math.ceil(((i * px) / hyp) - 0.5)
        if abs(dy) >= h or abs(dx) >= w:
            break
        out[width - dy, width - dx] += k[i]
    return out


def motion_blur_batch(x: np.ndarray, radius: int, sigma: float, angles: np.ndarray) -> np.ndarray:
    h, w = x.shape[1:3]
    kernels = np.stack([motion_kernel(radius, sigma, a, h, w) for a in angles])
    return fft_correlate(x, kernels, "edge")


# ---------------------------------------------------------------- zoom


def zoom_axis(n: int, factor: float, crop: bool = True):
    """Indices and weights of imagecorruptions' ``clipped_zoom`` along one axis.

    The reference takes the centred ``ceil(n / factor)`` slice, zooms it with
    ``scipy.ndimage.zoom(order=1)`` and keeps the first ``n`` samples.
    """
    ch = int(np.ceil(n / float(factor)))
    top = (n - ch) // 2
    out = int(round(ch * float(factor)))
    keep = min(out, n) if crop else out
    step = (ch - 1) / (out - 1) if out > 1 else 0.0
    pos = np.arange(keep, dtype=np.float64) * step
    i0 = np.minimum(np.floor(pos).astype(np.int64), ch - 1)
    wgt = (pos - i0).astype(np.float32)
    i1 = np.minimum(i0 + 1, ch - 1)
    return i0 + top, i1 + top, wgt


def clipped_zoom(x: np.ndarray, factor: float, crop: bool = True) -> np.ndarray:
    """Batched ``clipped_zoom`` of (B, H, W, C) (bilinear, separable)."""
    h, w = x.shape[1:3]
    y0, y1, wy = zoom_axis(h, factor, crop)
    x0, x1, wx = zoom_axis(w, factor, crop)
    rows = x[:, y0] + (x[:, y1] - x[:, y0]) * wy[None, :, None, None]
    return rows[:, :, x0] + (rows[:, :, x1] - rows[:, :, x0]) * wx[None, None, :, None]


# ---------------------------------------------------------------- torch helpers


def torch_from(x: np.ndarray, ctx: Any):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x)).to(torch_device(ctx))


def torch_float(images: np.ndarray, ctx: Any):
    """uint8 batch -> float32 tensor in [0, 1] on the context's device, rounded exactly like :func:`to_float`."""
    import torch

    t = torch_from(images, ctx).to(torch.float32)
    return t * torch.tensor(np.float32(1.0 / 255.0), device=t.device)


def torch_to_uint8(t, scale: float = 255.0) -> np.ndarray:
    import torch

    if scale == 255.0:
        t = torch.clamp(t, 0.0, 1.0) * 255.0
    else:
        t = torch.clamp(t, 0.0, 255.0)
    return t.to(torch.uint8).cpu().numpy()


def torch_correlate(t, kernel: np.ndarray, pad_mode: str):
    """Correlate a (B, H, W, C) tensor with a centred odd kernel (K, K) or (B, K, K), via FFT."""
    import torch
    import torch.nn.functional as F

    ksize = kernel.shape[-1]
    r = ksize // 2
    b, h, w, c = t.shape
    nchw = t.permute(0, 3, 1, 2)
    mode = {"reflect": "reflect", "edge": "replicate"}[pad_mode]
    if r >= min(h, w) and mode == "reflect":
        padded = torch.from_numpy(
            np.pad(nchw.cpu().numpy(), ((0, 0), (0, 0), (r, r), (r, r)), mode="reflect")
        )
        padded = padded.to(t.device)
    else:
        padded = F.pad(nchw, (r, r, r, r), mode=mode)
    fh, fw = padded.shape[2], padded.shape[3]
    kf = torch.from_numpy(np.ascontiguousarray(kernel[..., ::-1, ::-1]).astype(np.float32)).to(t.device)
    big = torch.fft.rfft2(padded, s=(fh, fw))
    kk = torch.fft.rfft2(kf, s=(fh, fw))
    kk = kk[:, None] if kernel.ndim == 3 else kk[None, None]
    y = torch.fft.irfft2(big * kk, s=(fh, fw))
    y = y[:, :, ksize - 1 : ksize - 1 + h, ksize - 1 : ksize - 1 + w]
    return y.permute(0, 2, 3, 1)


def torch_gaussian(t, sigma: float, truncate: float = 4.0):
    """scipy gaussian_filter(mode='nearest') over H, W of a (B, H, W, C) tensor."""
    import torch
    import torch.nn.functional as F

    k = torch.from_numpy(gaussian_kernel1d(sigma, truncate).astype(np.float32)).to(t.device)
    r = k.numel() // 2
    b, h, w, c = t.shape
    y = t.permute(0, 3, 1, 2).reshape(b * c, 1, h, w)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return y.reshape(b, c, h, w).permute(0, 2, 3, 1).contiguous().to(torch.float32)


def torch_clipped_zoom(t, factor: float):
    import torch

    h, w = t.shape[1:3]
    y0, y1, wy = zoom_axis(h, factor)
    x0, x1, wx = zoom_axis(w, factor)
    dev = t.device
    y0, y1, x0, x1 = (torch.from_numpy(a).to(dev) for a in (y0, y1, x0, x1))
    wy = torch.from_numpy(wy).to(dev)[None, :, None, None]
    wx = torch.from_numpy(wx).to(dev)[None, None, :, None]
    a, b = t[:, y0], t[:, y1]
    rows = a + (b - a) * wy
    a, b = rows[:, :, x0], rows[:, :, x1]
    return a + (b - a) * wx
