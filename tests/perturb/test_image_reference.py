"""Agreement of the image corruptions with the reference implementation (imagecorruptions 1.1.2).

Skipped, with the reason printed, when imagecorruptions is not installed
(``pip install imagecorruptions==1.1.2``; it also needs opencv-python and
scikit-image). The compatibility shims and the tolerances are those of
``benchmarks/corruptions.py``, imported from there so that the benchmark and
the tests cannot drift apart.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "corruptions.py"


def _bench():
    spec = importlib.util.spec_from_file_location("uspec_benchmarks_corruptions", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MISSING = [m for m in ("imagecorruptions", "cv2", "skimage") if importlib.util.find_spec(m) is None]
if MISSING:
    reason = f"reference tests need imagecorruptions==1.1.2 (missing: {', '.join(MISSING)})"
    print(f"SKIP {__name__}: {reason}")
    pytest.skip(reason, allow_module_level=True)

bench = _bench()
IC = bench.load_reference()
IMAGES = bench.sample_images(64, 2)

# Deterministic given their random draws: compared pixel by pixel.
PIXEL = list(bench.PIXEL)
# Random: compared by the distribution of the pixel change, with more draws where the reference varies a lot.
STAT_DRAWS = {
    "gaussian_noise": 2,
    "shot_noise": 2,
    "impulse_noise": 2,
    "speckle_noise": 2,
    "elastic_transform": 3,
    "glass_blur": 2,
    "snow": 6,
    "fog": 8,
    "frost": 12,
}


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("name", PIXEL)
def test_pixel_agreement_with_reference(name, severity):
    r = bench.compare(IC, name, IMAGES, severity, draws=1)
    min_ssim, max_dmac = bench.TOLERANCES[name]
    assert r["ssim"] >= min_ssim, r
    assert abs(r["mac_ours"] - r["mac_ref"]) <= max_dmac, r
    assert r["maxdiff"] <= 1 or name == "jpeg_compression", r


@pytest.mark.parametrize("severity", [1, 3, 5])
@pytest.mark.parametrize("name", list(STAT_DRAWS))
def test_statistical_agreement_with_reference(name, severity):
    r = bench.compare(IC, name, IMAGES, severity, draws=STAT_DRAWS[name])
    rel_mac, rel_sd = bench.TOLERANCES[name]
    assert r["rel_mac"] <= rel_mac and r["rel_sd"] <= rel_sd, r
