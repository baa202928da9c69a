"""Cut the part of an image an annotation refers to: a patch around a point, a box, or all of it.

Point patches follow CoralNet's pyspacer (``spacer/extract_features_utils.py``) exactly, so features
match a CoralNet source: pad the image by ``size`` on every side with numpy's ``"reflect"`` mode,
round the padded centre with ``np.round``, start at ``int(centre - size / 2)`` and take ``size``
rows and columns. Instead of padding the whole (often 12+ megapixel) image per patch, the same
padding is applied to the row and column *index* vectors and the image is indexed with them: the
result is identical, the cost is O(height + width).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from .images import BadImageError, image_size
from .records import Geometry


def _reflect_indices(length: int, pad: int, start: int, stop: int) -> np.ndarray:
    """Indices into an axis of ``length`` for ``padded[start:stop]``, padded by ``pad`` with reflect."""
    padded = np.pad(np.arange(length), pad, mode="reflect")
    return padded[start:stop]


def _take(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return image[np.ix_(rows, cols)]


def _check_image(image: np.ndarray) -> tuple[int, int]:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or 0 in image.shape[:2]:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"expected an H x W (x C) image array with pixels, got {shape}")
    return image.shape[1], image.shape[0]


def crop_patch(image: np.ndarray, centre_xy: Sequence[float], size: int) -> np.ndarray:
    """Square ``size`` x ``size`` patch around (x = column, y = row), reflect-padded at borders.

    Same pixels as pyspacer's ``crop_patch`` (see module docstring): the (rounded) point lands at
    row/column offset ``size // 2`` for even sizes and ``size // 2 + 1`` for odd ones (pyspacer's
    truncation of ``centre - size / 2``). The point must lie within the image extent,
    0 <= x <= width and 0 <= y <= height; otherwise ValueError names both.
    """
    width, height = _check_image(image)
    if int(size) != size or size < 1:
        raise ValueError(f"patch size must be a positive integer, got {size!r}")
    size = int(size)
    x, y = (float(v) for v in centre_xy)
    if not (0 <= x <= width and 0 <= y <= height):
        raise ValueError(f"point (x={x:g}, y={y:g}) lies outside the {width}x{height} image "
                         f"(width x height)")
    centre_row, centre_col = np.round(size + np.array([y, x])).astype(int)
    top, left = int(centre_row - size / 2), int(centre_col - size / 2)
    rows = _reflect_indices(height, size, top, top + size)
    cols = _reflect_indices(width, size, left, left + size)
    return _take(image, rows, cols)


def crop_box(image: np.ndarray, box: Sequence[float], pad_to_square: bool = True) -> np.ndarray:
    """The pixels of box (x0, y0, x1, y1), widened outward to whole pixels (at least one).

    ``pad_to_square=True`` grows the shorter side symmetrically around the box centre with image
    context, reflect-padded past the borders like :func:`crop_patch`, so a later resize keeps the
    object's aspect ratio. Otherwise the box is clipped to the image. A box that does not overlap
    the image raises ValueError naming the box and the image size.
    """
    width, height = _check_image(image)
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    if x1 < 0 or y1 < 0 or x0 > width or y0 > height:
        raise ValueError(f"box (x0={x0:g}, y0={y0:g}, x1={x1:g}, y1={y1:g}) lies outside the "
                         f"{width}x{height} image (width x height)")
    left, top = math.floor(x0), math.floor(y0)
    right, bottom = max(math.ceil(x1), left + 1), max(math.ceil(y1), top + 1)
    if pad_to_square:
        side = max(right - left, bottom - top)
        left -= (side - (right - left)) // 2
        top -= (side - (bottom - top)) // 2
        right, bottom = left + side, top + side
    else:
        left, top = min(max(left, 0), width - 1), min(max(top, 0), height - 1)
        right, bottom = max(min(right, width), left + 1), max(min(bottom, height), top + 1)
    pad = max(0, -left, -top, right - width, bottom - height)
    rows = _reflect_indices(height, pad, top + pad, bottom + pad)
    cols = _reflect_indices(width, pad, left + pad, right + pad)
    return _take(image, rows, cols)


def _pixel_coords(geometry: Geometry, width: int, height: int) -> list[float]:
    """Geometry coordinates in pixels: normalised x scale by width, y by height."""
    coords = list(geometry.coords)
    if geometry.normalised:
        coords = [v * (width if i % 2 == 0 else height) for i, v in enumerate(coords)]
    return coords


def crop_for_geometry(image: np.ndarray, geometry: Geometry | None, patch_size: int) -> np.ndarray:
    """The region an annotation refers to.

    * ``None`` or whole → the image itself.
    * point → :func:`crop_patch` of side ``patch_size``.
    * circle (x, y, r) → square patch around the centre of side ``max(patch_size, ceil(2 r))``, so
      the whole circle is in view; a normalised radius is a fraction of the image width.
    * box, polygon, line → bounding box via :func:`crop_box` (padded to a square).
    """
    width, height = _check_image(image)
    if geometry is None or geometry.kind == "whole":
        return image
    expected = {"point": 2, "circle": 3, "box": 4}.get(geometry.kind)
    n = len(geometry.coords)
    if not (n == expected if expected else n >= 2 and n % 2 == 0):
        raise ValueError(f"{geometry.kind} geometry has {n} coordinates {geometry.coords}; "
                         f"expected {expected or 'an even number >= 2'}")
    if geometry.kind == "point":
        return crop_patch(image, _pixel_coords(geometry, width, height), patch_size)
    if geometry.kind == "circle":
        x, y = _pixel_coords(Geometry("point", geometry.coords[:2], geometry.normalised), width, height)
        radius = geometry.coords[2] * (width if geometry.normalised else 1)
        return crop_patch(image, (x, y), max(int(patch_size), math.ceil(2 * radius)))
    coords = _pixel_coords(geometry, width, height)
    xs, ys = coords[0::2], coords[1::2]
    return crop_box(image, (min(xs), min(ys), max(xs), max(ys)), pad_to_square=True)


def patch_size_warning(images: Iterable[str], patch_size: int, limit: int = 20) -> str | None:
    """What to say when a point patch is larger than the images it is cut from (None: it fits).

    A patch wider than its image is mostly reflected padding: the network sees mirror copies of the
    whole photo instead of the annotated organism. Only the image headers are read, of the first
    ``limit`` distinct images; unreadable ones are left to the dataset, which reports them.

    Args:
        images: Paths of the images patches are cut from.
        patch_size: ``data.patch_size``.
        limit: How many distinct images to look at.

    Returns:
        A warning naming the smallest such image and what to set, or None.
    """
    smallest: tuple[int, str] | None = None
    for path in list(dict.fromkeys(images))[:limit]:
        try:
            width, height = image_size(path)
        except BadImageError:
            continue
        if min(width, height) < patch_size and (smallest is None or min(width, height) < smallest[0]):
            smallest = (min(width, height), f"{path} ({width}x{height})")
    if smallest is None:
        return None
    suggestion = max(16, smallest[0] // 4)
    return (f"data.patch_size={patch_size} is larger than image {smallest[1]}: patches around its points are "
            f"mostly mirrored padding. Set data.patch_size to a quarter of the image side or less (e.g. "
            f"--set data.patch_size={suggestion}), or train on whole images with data.group_by=image")
