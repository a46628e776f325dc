"""The built-in image corruptions: shapes, determinism, batch independence, severity, devices.

Comparisons with the reference implementation (imagecorruptions) are in
test_image_reference.py.
"""

from __future__ import annotations

import importlib.util
import tomllib

import numpy as np
import pytest

import uspec_audit.perturb.image_common as common
from uspec_audit.components import PerturbationSpec, PerturbContext
from uspec_audit.perturb.image import (
    APPLY,
    CPU_CHUNK,
    IMAGE_PERTURBATION_NAMES,
    IMAGE_PERTURBATIONS,
    IMAGENET_C,
    IMAGENET_C_EXTRA,
    SUITES,
    register_image_perturbations,
)

NAMES = list(IMAGE_PERTURBATION_NAMES)
SEVERITIES = [1, 2, 3, 4, 5]

# Severity is not monotone in the mean absolute pixel change for these, by design of ImageNet-C:
NOT_MONOTONE = {
    "saturate": "severities 1-2 desaturate (x0.3, x0.1), 3-5 oversaturate (x2, x5, x20)",
    "snow": "severity 3 has fewer but larger flakes than 2 (zoom 4 vs 2, threshold 0.9 vs 0.5)",
    "frost": "severities 3-5 weigh the image less and the frost about the same (0.7, 0.7, 0.75)",
    "spatter": "severities 1-3 add water drops, 4-5 mud (a different effect)",
    "glass_blur": "severity 3 runs 3 swap passes, severity 4 only 2 (with larger offsets)",
}


def natural_images(n: int = 3, h: int = 40, w: int = 52, seed: int = 0) -> np.ndarray:
    """Natural-looking test images: smooth colour gradients, a few shapes and fine texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.empty((n, h, w, 3), dtype=np.float64)
    for i in range(n):
        base = rng.uniform(0.2, 0.8, 3)
        slope = rng.uniform(-0.4, 0.4, (2, 3))
        img = base + yy[..., None] * slope[0] + xx[..., None] * slope[1]
        for _ in range(3):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.1, 0.3)
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
            img[mask] = rng.uniform(0, 1, 3)
        img += 0.03 * rng.standard_normal((h, w, 3))
        out[i] = img
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


IMAGES = natural_images()


def run(name: str, images: np.ndarray, severity: int, seeds, device: str = "cpu") -> np.ndarray:
    ctx = PerturbContext(seeds=np.asarray(seeds, dtype=np.uint64), severity=severity, device=device)
    return APPLY[name](images, ctx)


def test_registration_lists_19_corruptions():
    specs: list[PerturbationSpec] = []
    register_image_perturbations(specs.append)
    assert [s.name for s in specs] == NAMES
    assert len(IMAGENET_C) == 15 and len(IMAGENET_C_EXTRA) == 4 and len(NAMES) == 19
    for spec in specs:
        assert spec.modality == "image" and spec.severities == (1, 2, 3, 4, 5)
        assert "Hendrycks & Dietterich 2019" in spec.source and spec.doc and spec.version == "1"


def test_suites_name_registered_corruptions():
    seen = []
    for name, path in SUITES.items():
        data = tomllib.loads(path.read_text())
        assert data["suite"]["name"] == name and data["suite"]["description"]
        for entry in data["perturbations"]:
            assert entry["name"] in IMAGE_PERTURBATIONS and entry["severities"] == SEVERITIES
            seen.append(entry["name"])
    assert [e["name"] for e in tomllib.loads(SUITES["imagenet-c"].read_text())["perturbations"]] == list(
        IMAGENET_C
    )
    assert sorted(seen) == sorted(NAMES)


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_determinism_and_batch_independence(name, severity):
    seeds = [11, 22, 33]
    out = run(name, IMAGES, severity, seeds)
    assert out.shape == IMAGES.shape and out.dtype == np.uint8
    assert np.array_equal(out, run(name, IMAGES, severity, seeds)), "same seeds, different pixels"
    assert not np.array_equal(out, IMAGES), "the corruption changed nothing"
    # example 1 alone, and in another batch at another position, gives the same pixels
    alone = run(name, IMAGES[1:2], severity, [22])
    assert np.array_equal(alone[0], out[1])
    other = run(name, IMAGES[[2, 0, 1]], severity, [99, 98, 22])
    assert np.array_equal(other[2], out[1])


def test_chunking_does_not_change_pixels():
    images = natural_images(CPU_CHUNK + 3, 33, 35, seed=5)
    seeds = np.arange(100, 100 + len(images))
    for name in NAMES:
        whole = run(name, images, 4, seeds)
        raw = IMAGE_PERTURBATIONS[name][0](images, PerturbContext(seeds=seeds.astype(np.uint64), severity=4))
        assert np.array_equal(whole, raw), name
        assert np.array_equal(whole[-1:], run(name, images[-1:], 4, seeds[-1:])), name


@pytest.mark.parametrize("name", NAMES)
def test_seeds_matter_for_random_corruptions(name):
    deterministic = {
        "defocus_blur",
        "zoom_blur",
        "gaussian_blur",
        "brightness",
        "contrast",
        "saturate",
        "pixelate",
        "jpeg_compression",
    }
    a = run(name, IMAGES, 3, [1, 2, 3])
    b = run(name, IMAGES, 3, [4, 5, 6])
    assert np.array_equal(a, b) == (name in deterministic)


@pytest.mark.parametrize("name", NAMES)
def test_severity_monotone_in_mean_absolute_change(name):
    images = natural_images(4, 48, 48, seed=3)
    clean = images.astype(np.float64)
    mac = [np.abs(run(name, images, s, [5, 6, 7, 8]) - clean).mean() for s in SEVERITIES]
    increasing = all(b >= a - 0.25 for a, b in zip(mac, mac[1:], strict=False))
    if name in NOT_MONOTONE:
        assert mac[-1] > 0
    else:
        assert increasing, f"{name}: mean absolute change by severity {np.round(mac, 2)}"


@pytest.mark.parametrize("name", NAMES)
def test_grayscale_images(name):
    gray = IMAGES[..., :1]
    out = run(name, gray, 4, [1, 2, 3])
    assert out.shape == gray.shape and out.dtype == np.uint8
    if name in {
        "defocus_blur",
        "gaussian_blur",
        "zoom_blur",
        "motion_blur",
        "contrast",
        "pixelate",
        "brightness",
        "elastic_transform",
        "glass_blur",
        "fog",
    }:
        # channel-agnostic: a grey image in RGB gives three copies of the grayscale result
        rgb = run(name, np.repeat(gray, 3, axis=-1), 4, [1, 2, 3])
        assert np.abs(rgb[..., :1].astype(int) - out).max() <= 1
    if name == "saturate":
        assert np.array_equal(out, gray)


def test_odd_sizes_and_large_images():
    for shape in [(1, 32, 33, 3), (2, 33, 100, 3), (1, 300, 260, 3)]:
        images = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
        for name in NAMES:
            out = run(name, images, 5, np.arange(shape[0]))
            assert out.shape == images.shape and out.dtype == np.uint8, name


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="uint8"):
        run("gaussian_noise", IMAGES.astype(np.float32), 1, [1, 2, 3])
    with pytest.raises(ValueError, match="severity"):
        run("contrast", IMAGES, 6, [1, 2, 3])
    with pytest.raises(ValueError, match="seeds"):
        run("gaussian_noise", IMAGES, 1, [1, 2])


def test_known_values():
    flat = np.full((1, 40, 40, 3), 100, dtype=np.uint8)
    # contrast of a flat image is the identity; brightness of grey raises V by c (in [0, 1])
    assert np.array_equal(run("contrast", flat, 5, [0]), flat)
    assert int(run("brightness", flat, 1, [0])[0, 0, 0, 0]) == int((100 / 255 + 0.1) * 255)
    # impulse noise only writes 0 or 255
    out = run("impulse_noise", flat, 5, [0])
    assert set(np.unique(out)) <= {0, 100, 255}
    changed = (out != 100).mean()
    assert 0.2 < changed < 0.34  # amount 0.27


TORCH_NAMES = [
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "speckle_noise",
    "defocus_blur",
    "gaussian_blur",
    "motion_blur",
    "zoom_blur",
    "brightness",
    "contrast",
    "saturate",
    "pixelate",
]


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
@pytest.mark.parametrize("name", TORCH_NAMES)
def test_torch_path_agrees_with_numpy(name, monkeypatch):
    images = natural_images(2, 36, 44, seed=7)
    for severity in SEVERITIES:
        expected = run(name, images, severity, [3, 4])
        monkeypatch.setattr(common, "_FORCE_TORCH", True)
        got = run(name, images, severity, [3, 4])
        monkeypatch.setattr(common, "_FORCE_TORCH", False)
        assert got.shape == expected.shape and got.dtype == np.uint8
        diff = np.abs(got.astype(int) - expected)
        # float32 rounding may move a value across an integer before truncation
        assert diff.max() <= 1 and (diff > 0).mean() < 0.02, (name, severity, diff.max(), (diff > 0).mean())
