"""Cut the part of an image an annotation refers to: a patch around a point, a box, or all of it.

Point patches follow CoralNet's pyspacer (``spacer/extract_features_utils.py``) exactly, so features
match a CoralNet source: pad the image by ``size`` on every side with numpy's ``"reflect"`` mode,
round the padded centre with ``np.round``, start at ``int(centre - size / 2)`` and take ``size``
rows and columns. Instead of padding the whole (often 12+ megapixel) image per patch, the same
padding is applied to the row and column *index* vectors and the image is indexed with them: the
result is identical, the cost is O(height + width).

Every cut is a :class:`Window`: a rectangle in the image's pixel grid that may reach past its
borders (those pixels are the reflection). :func:`window_for_geometry` says which rectangle an
annotation refers to, from the image's size alone, and :func:`cut_window` cuts it. Splitting the
two lets a patch cache (:mod:`~seafloorhmc.data.image_cache`) store a window *grown* by a margin and
cut the exact patch from it later: numpy's reflection is the same triangle wave whatever the pad,
so a window cut from a larger window equals the window cut from the image.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from .images import BadImageError, image_size
from .records import Geometry

__all__ = ["Window", "crop_box", "crop_for_geometry", "crop_patch", "cut_window", "patch_window",
           "box_window", "window_for_geometry", "window_indices", "patch_size_warning"]


class Window(NamedTuple):
    """Rows ``top`` to ``top + height`` and columns ``left`` to ``left + width`` of an image (may pass its borders)."""

    top: int
    left: int
    height: int
    width: int

    def grow(self, margin: int) -> Window:
        """The window with ``margin`` more pixels on every side.

        Args:
            margin: Pixels added on each side (>= 0).

        Returns:
            The larger window.
        """
        return Window(self.top - margin, self.left - margin, self.height + 2 * margin, self.width + 2 * margin)

    def inside(self, outer: Window) -> Window:
        """This window in the coordinates of ``outer`` (a window of the same image that contains it).

        Args:
            outer: The containing window.

        Returns:
            The window relative to ``outer``'s top-left corner.

        Raises:
            ValueError: If ``outer`` does not contain this window.
        """
        top, left = self.top - outer.top, self.left - outer.left
        if top < 0 or left < 0 or top + self.height > outer.height or left + self.width > outer.width:
            raise ValueError(f"window {tuple(self)} does not lie inside {tuple(outer)}")
        return Window(top, left, self.height, self.width)


def _reflect_indices(length: int, start: int, stop: int) -> np.ndarray:
    """Indices into an axis of ``length`` for positions ``start .. stop`` reflected at its ends (numpy "reflect")."""
    pad = max(0, -start, stop - length)
    return np.pad(np.arange(length), pad, mode="reflect")[start + pad:stop + pad]


def _check_image(image: np.ndarray) -> tuple[int, int]:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or 0 in image.shape[:2]:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"expected an H x W (x C) image array with pixels, got {shape}")
    return image.shape[1], image.shape[0]


def window_indices(window: Window, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of a width x height image that :func:`cut_window` takes for ``window``.

    For cutting the window out of an array that is not numpy (a decoded photo on a GPU).

    Args:
        window: The rectangle.
        width: Image width.
        height: Image height.

    Returns:
        (row indices, column indices).
    """
    top, left, rows, cols = window
    return _reflect_indices(height, top, top + rows), _reflect_indices(width, left, left + cols)


def cut_window(image: np.ndarray, window: Window) -> np.ndarray:
    """The pixels of ``window``; rows and columns past the image's borders are reflected (numpy "reflect").

    Always a new array (never a view that would keep a whole decoded photo alive).

    Args:
        image: H x W (x C) pixels.
        window: The rectangle to cut.

    Returns:
        ``window.height`` x ``window.width`` (x C) pixels.

    Raises:
        ValueError: For an empty image or an empty window.
    """
    width, height = _check_image(image)
    top, left, rows, cols = window
    if rows < 1 or cols < 1:
        raise ValueError(f"window {tuple(window)} is empty")
    if top >= 0 and left >= 0 and top + rows <= height and left + cols <= width:
        return image[top:top + rows, left:left + cols].copy()
    return image[np.ix_(_reflect_indices(height, top, top + rows), _reflect_indices(width, left, left + cols))]


def patch_window(centre_xy: Sequence[float], size: int, width: int, height: int) -> Window:
    """The window of pyspacer's ``size`` x ``size`` patch around (x = column, y = row) of a width x height image.

    The (rounded) point lands at row/column offset ``size // 2`` for even sizes and
    ``size // 2 + 1`` for odd ones (pyspacer's truncation of ``centre - size / 2``).

    Args:
        centre_xy: The point, in pixels.
        size: The patch side.
        width: Image width.
        height: Image height.

    Returns:
        The patch's window.

    Raises:
        ValueError: For a size that is not a positive integer, or a point outside
            0 <= x <= width, 0 <= y <= height (naming both).
    """
    if int(size) != size or size < 1:
        raise ValueError(f"patch size must be a positive integer, got {size!r}")
    size = int(size)
    x, y = (float(v) for v in centre_xy)
    if not (0 <= x <= width and 0 <= y <= height):
        raise ValueError(f"point (x={x:g}, y={y:g}) lies outside the {width}x{height} image "
                         f"(width x height)")
    centre_row, centre_col = np.round(size + np.array([y, x])).astype(int)
    top, left = int(centre_row - size / 2), int(centre_col - size / 2)
    return Window(top - size, left - size, size, size)  # padded coordinates → image coordinates


def box_window(box: Sequence[float], width: int, height: int, pad_to_square: bool = True) -> Window:
    """The window of box (x0, y0, x1, y1), widened outward to whole pixels (at least one).

    ``pad_to_square=True`` grows the shorter side symmetrically around the box centre (context,
    reflected past the borders); otherwise the box is clipped to the image.

    Args:
        box: Corners in pixels (either order).
        width: Image width.
        height: Image height.
        pad_to_square: Square the window (True) or clip it to the image (False).

    Returns:
        The box's window.

    Raises:
        ValueError: If the box does not overlap the image (naming the box and the image size).
    """
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
    return Window(top, left, bottom - top, right - left)


def crop_patch(image: np.ndarray, centre_xy: Sequence[float], size: int) -> np.ndarray:
    """Square ``size`` x ``size`` patch around (x = column, y = row), reflect-padded at borders.

    Same pixels as pyspacer's ``crop_patch`` (module docstring; window from :func:`patch_window`).

    Args:
        image: H x W (x C) pixels.
        centre_xy: The point (x = column, y = row), within 0 <= x <= width, 0 <= y <= height.
        size: The patch side.

    Returns:
        The patch.

    Raises:
        ValueError: For a point outside the image (naming both) or a bad size.
    """
    width, height = _check_image(image)
    return cut_window(image, patch_window(centre_xy, size, width, height))


def crop_box(image: np.ndarray, box: Sequence[float], pad_to_square: bool = True) -> np.ndarray:
    """The pixels of box (x0, y0, x1, y1), widened outward to whole pixels (at least one).

    ``pad_to_square=True`` grows the shorter side symmetrically around the box centre with image
    context, reflect-padded past the borders like :func:`crop_patch`, so a later resize keeps the
    object's aspect ratio. Otherwise the box is clipped to the image.

    Args:
        image: H x W (x C) pixels.
        box: (x0, y0, x1, y1) in pixels.
        pad_to_square: Square the box with context (True) or clip it to the image.

    Returns:
        The box's pixels.

    Raises:
        ValueError: If the box does not overlap the image (naming the box and the image size).
    """
    width, height = _check_image(image)
    return cut_window(image, box_window(box, width, height, pad_to_square))


def _pixel_coords(geometry: Geometry, width: int, height: int) -> list[float]:
    """Geometry coordinates in pixels: normalised x scale by width, y by height."""
    coords = list(geometry.coords)
    if geometry.normalised:
        coords = [v * (width if i % 2 == 0 else height) for i, v in enumerate(coords)]
    return coords


def window_for_geometry(geometry: Geometry | None, patch_size: int, width: int, height: int) -> Window | None:
    """The window an annotation refers to in a width x height image (None: the whole image).

    * ``None`` or whole → None (the image itself).
    * point → :func:`patch_window` of side ``patch_size``.
    * circle (x, y, r) → square patch around the centre of side ``max(patch_size, ceil(2 r))``, so
      the whole circle is in view; a normalised radius is a fraction of the image width.
    * box, polygon, line → bounding box via :func:`box_window` (padded to a square).

    Args:
        geometry: The annotation's geometry.
        patch_size: Side of point patches.
        width: Image width.
        height: Image height.

    Returns:
        The window, or None for the whole image.

    Raises:
        ValueError: For a wrong number of coordinates, or a place outside the image.
    """
    if geometry is None or geometry.kind == "whole":
        return None
    expected = {"point": 2, "circle": 3, "box": 4}.get(geometry.kind)
    n = len(geometry.coords)
    if not (n == expected if expected else n >= 2 and n % 2 == 0):
        raise ValueError(f"{geometry.kind} geometry has {n} coordinates {geometry.coords}; "
                         f"expected {expected or 'an even number >= 2'}")
    if geometry.kind == "point":
        return patch_window(_pixel_coords(geometry, width, height), patch_size, width, height)
    if geometry.kind == "circle":
        x, y = _pixel_coords(Geometry("point", geometry.coords[:2], geometry.normalised), width, height)
        radius = geometry.coords[2] * (width if geometry.normalised else 1)
        return patch_window((x, y), max(int(patch_size), math.ceil(2 * radius)), width, height)
    coords = _pixel_coords(geometry, width, height)
    xs, ys = coords[0::2], coords[1::2]
    return box_window((min(xs), min(ys), max(xs), max(ys)), width, height, pad_to_square=True)


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


def crop_for_geometry(image: np.ndarray, geometry: Geometry | None, patch_size: int) -> np.ndarray:
    """The region an annotation refers to (the image itself for ``None`` or whole).

    :func:`cut_window` of :func:`window_for_geometry`, with the same rules.

    Args:
        image: H x W (x C) pixels.
        geometry: The annotation's geometry.
        patch_size: Side of point patches.

    Returns:
        The region's pixels.

    Raises:
        ValueError: For a wrong number of coordinates or a place outside the image.
    """
    width, height = _check_image(image)
    window = window_for_geometry(geometry, patch_size, width, height)
    return image if window is None else cut_window(image, window)
