"""Shared fixtures: small real ensembles (torch -> ONNX) on scikit-learn's bundled digits."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).parent))

from builders import DigitsWorld, build_digits_world  # noqa: E402


@pytest.fixture(scope="session")
def digits_world(tmp_path_factory) -> DigitsWorld:
    """Four small ONNX members, two TorchScript members and Parquet/npz/image-folder datasets of digits."""
    return build_digits_world(tmp_path_factory.mktemp("digits-world"))
