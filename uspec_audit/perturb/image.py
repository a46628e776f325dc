"""Built-in image perturbations: the 15 ImageNet-C corruptions and the 4 extra ones.

Hendrycks & Dietterich (2019), "Benchmarking Neural Network Robustness to
Common Corruptions and Perturbations", ICLR; parameters from the reference
implementation for arbitrary image sizes, ``imagecorruptions`` 1.1.2
(Michaelis et al. 2019). Each corruption takes a ``uint8`` batch
``(B, H, W, C)`` (C = 3, or C = 1 for grayscale) and a
:class:`~uspec_audit.components.PerturbContext` with ``severity`` 1..5, and
returns a ``uint8`` batch of the same shape.

Randomness: example ``i`` draws only from ``np.random.default_rng(ctx.seeds[i])``
(a fixed sequence of draws per example), so its output does not depend on the
rest of the batch and re-runs, resumed and sharded runs are identical. The
draws are always made with numpy, also when ``ctx.device`` is ``"cuda"``.

Devices: with ``ctx.device == "cuda"`` the noise, blur (except glass),
brightness/contrast/saturate and pixelate corruptions compute on the GPU with
torch (imported lazily); glass blur, the weather corruptions, JPEG and the
elastic transform run on the CPU on every device. GPU results agree with the
CPU ones up to float rounding (a pixel may differ by one level after truncation).

Fidelity to the reference and the documented deviations are measured by
``benchmarks/corruptions.py`` and tested in ``tests/perturb/test_image_reference.py``:

- glass blur: the reference's per-pixel Python loop runs as a vectorized
  wavefront that gives exactly the sequential result for the same offsets,
  including the reference's quirk that its "swap" copies one pixel onto the
  other (see ``image_blur._glass_swaps``).
- motion blur: the reference's shift-and-add is one FFT correlation (same maths).
- frost: procedural textures instead of the reference's photographs
  (matched in size, per-channel mean and sd; see ``image_frost``).
- spatter (water, severities 1-3): Canny, distance transform and histogram
  equalisation re-implemented with numpy/scipy (exact Euclidean distance
  instead of OpenCV's 5x5 mask approximation).
- impulse noise: untouched pixels keep their exact value (the reference's
  float round trip may lower some by one level).
- JPEG of grayscale images encodes the single channel (the reference encodes
  an RGB copy; the luma quantisation is the same).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from uspec_audit.components import PerturbationSpec
from uspec_audit.perturb.image_blur import defocus_blur, gaussian_blur, glass_blur, motion_blur, zoom_blur
from uspec_audit.perturb.image_common import check_images, use_torch
from uspec_audit.perturb.image_digital import (
    brightness,
    contrast,
    elastic_transform,
    jpeg_compression,
    pixelate,
    saturate,
)
from uspec_audit.perturb.image_noise import gaussian_noise, impulse_noise, shot_noise, speckle_noise
from uspec_audit.perturb.image_weather import fog, frost, snow, spatter

SOURCE = "Hendrycks & Dietterich 2019, ICLR (ImageNet-C); parameters of imagecorruptions 1.1.2"

#: name -> (function, one-line doc); the 15 ImageNet-C corruptions in the paper's order.
IMAGENET_C: dict[str, tuple[Callable, str]] = {
    "gaussian_noise": (gaussian_noise, "Additive Gaussian noise, sd 0.08-0.38 of the range."),
    "shot_noise": (shot_noise, "Poisson (photon) noise, 60-3 photons at full scale."),
    "impulse_noise": (impulse_noise, "Salt-and-pepper noise on 3%-27% of the values."),
    "defocus_blur": (defocus_blur, "Blur with an anti-aliased disk of radius 3-10 px."),
    "glass_blur": (glass_blur, "Gaussian blur, local random pixel swaps, Gaussian blur (frosted glass)."),
    "motion_blur": (motion_blur, "Linear motion blur at a random angle, radius 10-20 px."),
    "zoom_blur": (zoom_blur, "Mean of centre zooms by up to 1.10-1.30."),
    "snow": (snow, "Motion-blurred snow flakes over a whitened image."),
    "frost": (frost, "Frost texture blended over the image (procedural textures)."),
    "fog": (fog, "Plasma-fractal haze."),
    "brightness": (brightness, "HSV value raised by 0.1-0.5."),
    "contrast": (contrast, "Contrast reduced to 0.4-0.05 around the channel means."),
    "elastic_transform": (elastic_transform, "Smooth random elastic displacement field."),
    "pixelate": (pixelate, "Box downsampling to 60%-25% and nearest upsampling."),
    "jpeg_compression": (jpeg_compression, "JPEG round trip at quality 25-7."),
}

#: The 4 extra (validation) corruptions of ImageNet-C.
IMAGENET_C_EXTRA: dict[str, tuple[Callable, str]] = {
    "speckle_noise": (speckle_noise, "Multiplicative Gaussian noise, sd 0.15-0.6."),
    "gaussian_blur": (gaussian_blur, "Gaussian blur, sigma 1-6 px."),
    "spatter": (spatter, "Water drops (severity 1-3) or mud (4-5) spattered on the lens."),
    "saturate": (saturate, "HSV saturation scaled (0.3, 0.1, 2, 5, 20) and offset."),
}

IMAGE_PERTURBATIONS: dict[str, tuple[Callable, str]] = {**IMAGENET_C, **IMAGENET_C_EXTRA}
#: The registered names, in order.
IMAGE_PERTURBATION_NAMES: tuple[str, ...] = tuple(IMAGE_PERTURBATIONS)

_SUITE_DIR = Path(__file__).resolve().parent / "suites"
SUITES: dict[str, Path] = {
    "imagenet-c": _SUITE_DIR / "imagenet-c.toml",
    "imagenet-c-extra": _SUITE_DIR / "imagenet-c-extra.toml",
}


#: Images per chunk on the CPU: the numpy work on a few 224 x 224 images stays in cache,
#: which makes it about twice as fast as one pass over a large batch. Glass blur's
#: wavefront loop prefers large chunks. Outputs do not depend on the chunking.
CPU_CHUNK = 8
CPU_CHUNK_OVERRIDES = {"glass_blur": 64}


def _chunked(fn: Callable, chunk: int) -> Callable:
    """Run ``fn`` over the batch in chunks of ``chunk`` images on the CPU (whole batch on the GPU)."""

    @functools.wraps(fn)
    def apply(images: np.ndarray, ctx):
        images = check_images(images)
        n = len(images)
        if n <= chunk or use_torch(ctx):
            return fn(images, ctx)
        seeds = np.asarray(ctx.seeds, dtype=np.uint64).reshape(-1)
        if seeds.shape[0] != n:
            raise ValueError(f"PerturbContext.seeds has {seeds.shape[0]} seeds for a batch of {n} images")
        out = np.empty_like(images)
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            ids = None if ctx.ids is None else ctx.ids[lo:hi]
            out[lo:hi] = fn(images[lo:hi], dataclasses.replace(ctx, seeds=seeds[lo:hi], ids=ids))
        return out

    return apply


#: name -> the registered ``apply(images, ctx)`` (chunked on the CPU).
APPLY: dict[str, Callable] = {
    name: _chunked(fn, CPU_CHUNK_OVERRIDES.get(name, CPU_CHUNK))
    for name, (fn, _) in IMAGE_PERTURBATIONS.items()
}


def image_perturbation_specs() -> list[PerturbationSpec]:
    return [
        PerturbationSpec(
            name=name,
            apply=APPLY[name],
            modality="image",
            doc=doc,
            source=SOURCE,
            severities=(1, 2, 3, 4, 5),
            version="1",
        )
        for name, (fn, doc) in IMAGE_PERTURBATIONS.items()
    ]


def register_image_perturbations(register: Callable) -> None:
    """Register the 19 image corruptions (called from the built-in plugin)."""
    for spec in image_perturbation_specs():
        register(spec)
