"""Decoding of encoded images (PNG/JPEG bytes or files) into uint8 HWC arrays.

An image is checked before its pixels are decoded: a small file that declares
a huge size (a decompression bomb) is refused with the size it declares, and a
file that is not an image, or a truncated one, is a clear error naming the
example.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from uspec_audit.errors import RunError

MAX_PIXELS = 50_000_000  # per image; 150 MB as RGB. Audited models take far smaller inputs.


class DecodeError(RunError, ValueError):
    """An image that cannot be decoded (a data problem: exit 3). Also a ValueError, as before."""


def decode_image(data: bytes | str, where: str) -> np.ndarray:
    """Decode one image to ``uint8`` ``(H, W, C)``; RGB for colour, one channel for grayscale."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data) if isinstance(data, bytes | bytearray) else data) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise DecodeError(
                        f"{where}: the image declares {width} x {height} pixels, more than the "
                        f"{MAX_PIXELS:,} accepted (a decompression bomb?)."
                    )
                readable = image if image.mode in ("L", "RGB") else image.convert("RGB")
                array = np.asarray(readable, dtype=np.uint8)
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DecodeError(f"{where}: the image is too large to decode ({error}).") from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        raise DecodeError(f"{where}: cannot decode the image ({type(error).__name__}: {error}).") from error
    return array[:, :, None] if array.ndim == 2 else array


def decode_images(items: Sequence[bytes | str], where: str) -> np.ndarray:
    """Decode a batch of images into one ``(B, H, W, C)`` array; all must share one size."""
    arrays = [decode_image(item, f"{where}, example {i}") for i, item in enumerate(items)]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DecodeError(
            f"{where}: images of different sizes in one dataset ({sorted(shapes)[:4]}); "
            f"resize them to one size first."
        )
    return np.stack(arrays) if arrays else np.zeros((0, 0, 0, 3), np.uint8)
