"""Decode survey images safely into uint8 RGB arrays, whatever the file's mode or orientation.

Why not ``Image.open(path).convert("RGB")``: Pillow opens lazily (a truncated JPEG opens, and even
passes ``verify()``, then fails mid-epoch), guesses among ~40 formats, ignores EXIF orientation, and
keeps its decompression-bomb limit and truncated-file switch in process-wide globals. Here every
call decodes fully, accepts only JPEG/PNG/TIFF/BMP/WEBP, and turns every failure into one
:class:`BadImageError` that names the file.

Whole-image paths that shrink the photo anyway (the network sees a few hundred pixels of a
12-megapixel frame) pass ``shrink_to``: a photo whose shorter side is at least twice that is
delivered with its shorter side exactly ``shrink_to`` (area interpolation), and a JPEG is then
decoded at 1/2, 1/4 or 1/8 scale in the DCT domain first (Pillow's ``draft``), the largest
reduction that keeps the shorter side at or above ``2 * shrink_to`` (the area step then averages
at least 2 x 2 decoded pixels per output pixel, which keeps the result within about a level of
shrinking a full decode; the tests state the tolerance). Orientation and colour handling are the
same as a full decode's.

Full-size decodes of ordinary JPEGs (YCbCr or grey, complete, no shrinking) hand the bytes to
libjpeg-turbo through ``torchvision.io.decode_jpeg`` instead of Pillow's ``load``: the same library
with the same settings, so the same pixels (tested), straight into one array. Pillow's route
copies a 12-megapixel frame three times more on the way to numpy (about twice the CPU time).
Pillow still opens the file (format check, pixel limit, EXIF orientation, which is then applied
exactly as ``exif_transpose`` does), and decodes everything else: other formats and colour
models, draft-mode decodes, and any file libjpeg refuses there (a truncated file then gets
Pillow's strict or allow-truncated handling).

Global state, decided: while a file is opened and decoded, a module lock is held and Pillow's two
globals are set for this call only (``Image.MAX_IMAGE_PIXELS = None``,
``ImageFile.LOAD_TRUNCATED_IMAGES = allow_truncated``), then restored. The pixel limit itself is
checked here on the header's ``im.size`` before any pixel is decoded, so it is exact (no warning
band between 1x and 2x as in Pillow) and per call. Cost: decodes in threads of one process run one
at a time; DataLoader workers are processes, each with its own lock, so they are not slowed.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps

try:
    from torchvision.io import ImageReadMode, decode_jpeg
except (ImportError, RuntimeError):  # torchvision without its image extension: Pillow decodes everything
    decode_jpeg = None

DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default
IMAGE_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "WEBP")
_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
_TIFF_BITS_PER_SAMPLE = 258
SHRINK_FACTOR = 2  # shrink only photos at least this many times larger than asked (JPEG's smallest DCT reduction)
DRAFT_OVERSAMPLING = 2  # a draft decode keeps at least this many times the asked side for the area step

_PILLOW_GLOBALS_LOCK = threading.Lock()
_LIBJPEG_MODES = ("RGB", "L")  # JPEG colour models libjpeg turns into RGB exactly as Pillow does
_UPRIGHT = {  # EXIF orientation → what Pillow's exif_transpose does, on an H x W x C array
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1),
}

__all__ = ["BadImageError", "DEFAULT_MAX_PIXELS", "DecodedImage", "IMAGE_FORMATS", "ImageHeader", "SHRINK_FACTOR",
           "TruncatedImageWarning", "check_pixels", "decode_image", "image_size", "load_image", "read_header",
           "shrinks", "shrunk_size"]


class BadImageError(ValueError):
    """An image file that cannot be used: missing, corrupt, truncated, unsupported or too large.

    Args:
        path: The file.
        reason: What is wrong with it.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")


class TruncatedImageWarning(UserWarning):
    """A truncated file was accepted (``allow_truncated=True``); its missing part is grey.

    Args:
        path: The file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        super().__init__(f"image {self.path} is truncated; the missing region was filled with grey")


class DecodedImage(NamedTuple):
    """Pixels (uint8 H x W x 3 RGB) and whether the file was truncated (only with allow_truncated)."""

    pixels: np.ndarray
    truncated: bool


@contextmanager
def _pillow_settings(load_truncated: bool) -> Iterator[None]:
    """Pillow's globals for one call, under the lock, restored afterwards (see module docstring)."""
    with _PILLOW_GLOBALS_LOCK:
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS = None  # replaced by the exact per-call check in _decode_once
        ImageFile.LOAD_TRUNCATED_IMAGES = load_truncated
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _open_reason(err: Exception) -> str:
    """A short reason for a failure to open or decode, without Pillow's file-object reprs."""
    if isinstance(err, FileNotFoundError):
        return "no such file"
    if isinstance(err, IsADirectoryError):
        return "is a directory"
    if isinstance(err, PermissionError):
        return "permission denied"
    if isinstance(err, Image.UnidentifiedImageError):
        return f"not a recognised {', '.join(IMAGE_FORMATS[:-1])} or {IMAGE_FORMATS[-1]} file"
    return f"corrupt or unsupported image data ({type(err).__name__}: {err})"


def _check_pixels(path: str, size: tuple[int, int], max_pixels: int | None) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise BadImageError(
            path, f"{width}x{height} = {width * height} pixels exceeds max_pixels={max_pixels} "
            "(decompression-bomb guard; raise max_pixels for legitimately large mosaics)")


def shrinks(size: tuple[int, int], shrink_to: int | None) -> bool:
    """Whether an image of ``size`` (width, height) is delivered shrunk for ``shrink_to`` (module doc).

    Args:
        size: Width and height (either orientation: only the shorter side counts).
        shrink_to: The shorter side asked for (None: never shrink).

    Returns:
        True when the shorter side is at least ``SHRINK_FACTOR`` times ``shrink_to``.
    """
    return shrink_to is not None and min(size) >= SHRINK_FACTOR * int(shrink_to)


def shrunk_size(size: tuple[int, int], shrink_to: int) -> tuple[int, int]:
    """(width, height) with the shorter side ``shrink_to`` and the aspect ratio kept (rounded).

    Args:
        size: Width and height.
        shrink_to: The new shorter side.

    Returns:
        The new width and height.
    """
    width, height = size
    scale = shrink_to / min(width, height)
    return (shrink_to, max(1, round(height * scale))) if width <= height else (max(1, round(width * scale)), shrink_to)


def _draft(im: Image.Image, shrink_to: int) -> None:
    """Ask a JPEG decoder for the largest DCT-domain reduction (1/2, 1/4, 1/8) that keeps enough pixels.

    The shorter side stays >= ``DRAFT_OVERSAMPLING * shrink_to`` (no reduction when the photo is
    smaller than twice that).

    Pillow picks scale ``s`` with ``size // requested >= s`` per axis, so the decoded size is at
    least the requested one; ``mode=None`` keeps the decoder's colour conversion as it is.
    """
    width, height = im.size
    shorter, wanted = min(width, height), DRAFT_OVERSAMPLING * shrink_to
    if shorter >= 2 * wanted:
        im.draft(None, (max(1, width * wanted // shorter), max(1, height * wanted // shorter)))


def _libjpeg_pixels(path: str, orientation: int) -> np.ndarray | None:
    """A complete JPEG decoded by libjpeg-turbo (torchvision) into upright RGB; None when it refuses the file.

    A file without its end-of-image marker is left to Pillow, which decides about truncation.
    """
    data = np.fromfile(path, dtype=np.uint8)
    if data.size < 4 or data[-2] != 0xFF or data[-1] != 0xD9:
        return None
    with warnings.catch_warnings():  # torchvision 0.29 points to TorchCodec; its decoder is the one installed
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torchvision")
        try:
            planes = decode_jpeg(torch.from_numpy(data), mode=ImageReadMode.RGB)
        except RuntimeError:
            return None
    pixels = planes.permute(1, 2, 0).numpy()
    return np.ascontiguousarray(_UPRIGHT.get(orientation, lambda a: a)(pixels))


def _decode_once(path: str, max_pixels: int | None, load_truncated: bool, shrink_to: int | None = None) -> np.ndarray:
    """Open with the allowed formats, check the header's size, decode every pixel, make RGB upright.

    All of it happens inside the ``with`` block: closing a Pillow image frees its pixels, and a
    copy would lose the TIFF tags and EXIF data that orientation and bit depth come from.
    """
    with _pillow_settings(load_truncated), Image.open(path, formats=IMAGE_FORMATS) as im:
        _check_pixels(path, im.size, max_pixels)
        shrink = shrinks(im.size, shrink_to)
        if decode_jpeg is not None and not shrink and not load_truncated and im.format == "JPEG" \
                and im.mode in _LIBJPEG_MODES:
            pixels = _libjpeg_pixels(path, int(im.getexif().get(_EXIF_ORIENTATION) or 1))
            if pixels is not None:
                return pixels
        if shrink and im.format == "JPEG":
            assert shrink_to is not None  # shrinks() is False without a target
            _draft(im, int(shrink_to))
        im.load()
        bits = _bit_depth(im)
        ImageOps.exif_transpose(im, in_place=True)  # no copy of an upright 12-megapixel frame
        pixels = _to_rgb(path, im, bits)
    if shrink:
        assert shrink_to is not None  # shrinks() is False without a target
        width, height = shrunk_size((pixels.shape[1], pixels.shape[0]), int(shrink_to))
        pixels = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
    return pixels


def _bit_depth(im: Image.Image) -> int | None:
    """Bits per sample of an integer greyscale image: 16 for I;16*, the TIFF tag for I, else None."""
    if im.mode.startswith("I;16"):
        return 16
    declared = getattr(im, "tag_v2", {}).get(_TIFF_BITS_PER_SAMPLE) if im.mode == "I" else None
    if declared:
        return int(declared[0] if isinstance(declared, tuple) else declared)
    return None


def _to_rgb(path: str, im: Image.Image, bits: int | None) -> np.ndarray:
    """Any supported mode → uint8 RGB; high bit depths are rescaled (2**bits - 1 → 255), not clipped.

    ``bits`` is the declared depth of an integer image (None: 16 if the values fit, else 32).
    """
    if im.mode.startswith("I"):
        values = np.asarray(im).astype(np.int64)
        if values.min(initial=0) < 0:
            raise BadImageError(path, f"pixel mode {im.mode} with negative values is not supported")
        if bits is None:
            bits = 16 if values.max(initial=0) <= 65535 else 32
        top = 2 ** bits - 1
        grey = np.rint(np.clip(values, 0, top) * (255.0 / top)).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if im.mode == "F":
        raise BadImageError(path, "floating-point pixels (mode F) are not supported")
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA")  # honours palette transparency without Pillow's warning
    if im.mode == "RGB":
        return np.array(im, dtype=np.uint8)  # no convert: it would copy the whole frame once more
    try:
        rgb = im.convert("RGB")  # grey, grey+alpha, RGBA (alpha dropped, as pyspacer), CMYK, YCbCr
    except ValueError as err:
        raise BadImageError(path, f"pixel mode {im.mode} cannot be converted to RGB ({err})") from err
    return np.array(rgb, dtype=np.uint8)


def decode_image(
    path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, allow_truncated: bool = False,
    shrink_to: int | None = None,
) -> DecodedImage:
    """Like :func:`load_image`, but returns whether the file was truncated instead of warning.

    A truncated file is detected by a strict first decode; with ``allow_truncated`` it is then
    decoded again in Pillow's LOAD_TRUNCATED_IMAGES mode (missing region grey), so only damaged
    files pay for two decodes.

    Args:
        path: The image file.
        max_pixels: Refuse files whose header declares more pixels (None: no limit).
        allow_truncated: Accept truncated files (missing part grey).
        shrink_to: Deliver photos at least twice this on their shorter side with this shorter
            side (module docstring; None: full size).

    Returns:
        The pixels and whether the file was truncated.

    Raises:
        BadImageError: Naming the path and the reason.
    """
    path = str(path)
    truncated = False
    try:
        try:
            pixels = _decode_once(path, max_pixels, load_truncated=False, shrink_to=shrink_to)
        except (OSError, SyntaxError, EOFError, ValueError) as err:
            if isinstance(err, (BadImageError, FileNotFoundError, IsADirectoryError, PermissionError,
                                Image.UnidentifiedImageError)) or not allow_truncated:
                raise
            pixels = _decode_once(path, max_pixels, load_truncated=True, shrink_to=shrink_to)
            truncated = True
    except BadImageError:
        raise
    except Exception as err:  # any decoder failure on untrusted bytes is a bad image
        raise BadImageError(path, _open_reason(err)) from err
    return DecodedImage(pixels, truncated)


def load_image(
    path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, allow_truncated: bool = False,
    shrink_to: int | None = None,
) -> np.ndarray:
    """Decode ``path`` fully into uint8 H x W x 3 RGB, upright per its EXIF orientation.

    Args:
        path: The image file.
        max_pixels: Reject files whose header declares more pixels, before decoding (None: no limit).
        allow_truncated: Accept truncated files with a :class:`TruncatedImageWarning` (count them
            with ``warnings.catch_warnings(record=True)``, or call :func:`decode_image`).
        shrink_to: Deliver large photos with that shorter side (module docstring).

    Returns:
        The pixels.

    Raises:
        BadImageError: Naming the path and the reason.
    """
    decoded = decode_image(path, max_pixels=max_pixels, allow_truncated=allow_truncated, shrink_to=shrink_to)
    if decoded.truncated:
        warnings.warn(TruncatedImageWarning(path), stacklevel=2)
    return decoded.pixels


class ImageHeader(NamedTuple):
    """What a file's header says: format, Pillow mode, stored (width, height), EXIF orientation (1 = upright)."""

    format: str
    mode: str
    size: tuple[int, int]
    orientation: int

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) after the EXIF orientation is applied."""
        width, height = self.size
        return (height, width) if self.orientation in _SWAPS_AXES else (width, height)


def read_header(path: str | Path) -> ImageHeader:
    """The header of an image file, without decoding pixels.

    EXIF orientation is read for JPEG and WEBP, and for PNG only from an eXIf chunk before the
    pixel data (Pillow would decode the whole file to find a later one); TIFF sizes are already
    upright in Pillow, so their orientation is reported as 1.

    Args:
        path: The image file.

    Returns:
        Its header.

    Raises:
        BadImageError: If the file is missing or not a supported image.
    """
    path = str(path)
    try:
        with _pillow_settings(load_truncated=False):
            with Image.open(path, formats=IMAGE_FORMATS) as im:
                if im.format == "TIFF" or (im.format == "PNG" and "exif" not in im.info):
                    orientation = 1  # TIFF: Pillow reports the upright size already
                else:
                    orientation = int(im.getexif().get(_EXIF_ORIENTATION) or 1)
                return ImageHeader(str(im.format), im.mode, im.size, orientation)
    except Exception as err:
        raise BadImageError(path, _open_reason(err)) from err


def check_pixels(path: str | Path, size: tuple[int, int], max_pixels: int | None) -> None:
    """Refuse an image whose header declares more than ``max_pixels`` pixels (the decompression-bomb guard).

    Args:
        path: The file (for the message).
        size: Its (width, height).
        max_pixels: The limit (None: none).

    Raises:
        BadImageError: Naming the file, its size and the limit.
    """
    _check_pixels(str(path), size, max_pixels)


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of the image as :func:`load_image` returns it, from the header only.

    Needed to turn normalised geometries into pixels without decoding. EXIF orientations 5-8 swap
    width and height (see :func:`read_header`).

    Args:
        path: The image file.

    Returns:
        The upright width and height.

    Raises:
        BadImageError: If the file is missing or not a supported image.
    """
    return read_header(path).upright_size
