"""The template plugin's own tests (run after `pip install ./plugins/template`)."""

import numpy as np
from uspec_audit_template.plugin import VignetteParams, error_rate, vignette

from uspec_audit import PerturbContext


def test_vignette_keeps_shape_and_darkens_corners():
    images = np.full((3, 16, 16, 3), 200, np.uint8)
    out = vignette(images, PerturbContext(seeds=np.arange(3, dtype=np.uint64), severity=5, params=VignetteParams()))
    assert out.shape == images.shape and out.dtype == np.uint8
    assert out[:, 0, 0].mean() < out[:, 8, 8].mean()


def test_error_rate():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert error_rate(np.array([0, 0, 0]), probs, "binary") == 1 / 3
