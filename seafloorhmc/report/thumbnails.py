"""Small JPEG thumbnails as ``data:`` URIs: the prediction report stays one file that can be mailed.

A point row becomes the same reflect-padded patch the model saw (:func:`crop_patch`), with a ring
marking the point.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..data.patches import crop_patch

__all__ = ["make_thumbnail", "data_uri", "THUMB_SIZE"]

THUMB_SIZE = 224


def make_thumbnail(pixels: np.ndarray, point: Sequence[float] | None = None, patch_size: int = 224,
                   size: int = THUMB_SIZE) -> Image.Image:
    """A thumbnail of what the model saw: the whole image, or the patch around a point, ringed.

    Args:
        pixels: RGB image [H, W, 3] uint8.
        point: (x, y) in pixels for a point annotation; None for the whole image.
        patch_size: Side of the reflect-padded patch around ``point``.
        size: The thumbnail fits a ``size`` x ``size`` box (never enlarged past it).

    Returns:
        The thumbnail.
    """
    if point is not None:
        pixels = crop_patch(pixels, point, patch_size)
    image = Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")
    if point is not None and image.width < size:  # tiny patches: enlarge so the point stays visible
        image = image.resize((size, size), Image.Resampling.NEAREST)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    if point is not None:
        draw = ImageDraw.Draw(image)
        cx, cy, r = image.width / 2, image.height / 2, max(4, image.width // 14)
        for colour, width in (((0, 0, 0), 4), ((255, 220, 0), 2)):
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=colour, width=width)
    return image


def data_uri(image: Image.Image, quality: int = 85) -> str:
    """An image embedded in the page as a JPEG ``data:`` URI, so the report stays one file.

    Args:
        image: The image.
        quality: JPEG quality.

    Returns:
        ``data:image/jpeg;base64,...``.
    """
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

