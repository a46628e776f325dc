"""Decoding of encoded images (PNG/JPEG bytes or files) into uint8 HWC arrays."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError


def decode_image(data: bytes | str, where: str) -> np.ndarray:
    """Decode one image to ``uint8`` ``(H, W, C)``; RGB for colour, one channel for grayscale."""
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes | bytearray) else data) as image:
            if image.mode not in ("L", "RGB"):
                image = image.convert("RGB")
            array = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ValueError(f"{where}: cannot decode the image ({error}).") from error
    return array[:, :, None] if array.ndim == 2 else array


def decode_images(items: Sequence[bytes | str], where: str) -> np.ndarray:
    """Decode a batch of images into one ``(B, H, W, C)`` array; all must share one size."""
    arrays = [decode_image(item, f"{where}, example {i}") for i, item in enumerate(items)]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"{where}: images of different sizes in one dataset ({sorted(shapes)[:4]}); "
                         f"resize them to one size first.")
    return np.stack(arrays) if arrays else np.zeros((0, 0, 0, 3), np.uint8)
