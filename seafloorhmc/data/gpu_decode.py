"""Decode JPEGs in batches on a GPU (nvJPEG through ``torchvision.io.decode_jpeg(device="cuda")``).

On a GPU the encoder step is one to two orders of magnitude faster than on a CPU, and a CPU core
decodes a 12-megapixel JPEG in 100-400 ms: the decoder becomes the whole cost. nvJPEG decodes a
batch of photos on the GPU instead; the CPU only reads the files. Used by the image cache's build
(``data.gpu_decode``) and by ``predict``, only when the model runs on CUDA.

What it keeps from :func:`~seafloorhmc.data.images.decode_image`: the header's pixel limit, RGB
output (grey JPEGs expanded), and EXIF orientation (nvJPEG ignores it, and torchvision applies it
on the CPU only, so :func:`orient` does here what Pillow's ``exif_transpose`` does). Everything
else goes to the CPU decoder: other formats, CMYK/YCCK JPEGs, and any file nvJPEG refuses
(truncated or corrupt data then gets the CPU decoder's checks and messages). What differs: nvJPEG's
inverse DCT and chroma upsampling are not libjpeg's, so pixels differ from Pillow's by a few
levels; a cache built this way has its own key (decoder ``nvjpeg``).

Every function takes the device as an argument, so the same code runs on the CPU
(``decode_jpeg(device="cpu")``, libjpeg-turbo) in the tests of a machine without a GPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, decode_jpeg

from .images import DEFAULT_MAX_PIXELS, check_pixels, read_header, shrunk_size
from .patches import Window, window_indices

__all__ = ["JpegData", "cut_windows", "decode_jpegs", "eval_resize_crop", "normalise", "orient", "read_jpeg",
           "shrink"]

GPU_MODES = ("RGB", "L")  # JPEG colour models nvJPEG converts to RGB as libjpeg does


class JpegData(NamedTuple):
    """A JPEG's bytes (uint8, 1-D, on the CPU) and its EXIF orientation (1 = upright)."""

    path: str
    data: torch.Tensor
    orientation: int


def read_jpeg(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> JpegData | None:
    """The file's bytes when the GPU decoder can take it; None for anything the CPU decoder must handle.

    Args:
        path: The image file.
        max_pixels: The decompression-bomb limit (None: none), checked on the header.

    Returns:
        The bytes and orientation, or None (not a JPEG, a colour model other than RGB/grey, or no
        end-of-image marker: a truncated file gets the CPU decoder's truncation handling).

    Raises:
        BadImageError: If the file is missing, not a supported image, or over ``max_pixels``.
    """
    header = read_header(path)
    check_pixels(path, header.size, max_pixels)
    if header.format != "JPEG" or header.mode not in GPU_MODES:
        return None
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size < 2 or data[-2] != 0xFF or data[-1] != 0xD9:  # no EOI marker: truncated (or trailing bytes)
        return None
    return JpegData(str(path), torch.from_numpy(data), header.orientation)


def orient(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """Turn an H x W x C image upright as EXIF ``orientation`` says (Pillow's ``exif_transpose``).

    Args:
        image: Pixels as stored in the file, H x W x C.
        orientation: EXIF orientation 1-8 (anything else: unchanged).

    Returns:
        The upright image (a view where possible).
    """
    rows, cols = 0, 1
    if orientation == 2:  # mirrored
        return image.flip(cols)
    if orientation == 3:  # rotated 180
        return image.flip(rows).flip(cols)
    if orientation == 4:  # mirrored vertically
        return image.flip(rows)
    if orientation == 5:  # transposed
        return image.transpose(rows, cols)
    if orientation == 6:  # needs a quarter turn clockwise
        return torch.rot90(image, -1, (rows, cols))
    if orientation == 7:  # transversed
        return image.transpose(rows, cols).flip(rows).flip(cols)
    if orientation == 8:  # needs a quarter turn counter-clockwise
        return torch.rot90(image, 1, (rows, cols))
    return image


def decode_jpegs(jpegs: Sequence[JpegData], device: str | torch.device) -> list[torch.Tensor | None]:
    """Decode a batch of JPEGs on ``device`` into upright H x W x 3 uint8 tensors.

    Args:
        jpegs: The files' bytes.
        device: Where to decode (``cuda``: nvJPEG; ``cpu``: libjpeg-turbo).

    Returns:
        One tensor per file, on ``device``; None for a file the decoder refused (the caller decodes
        it on the CPU, whose checks name the problem).
    """
    if not jpegs:
        return []
    with warnings.catch_warnings():  # torchvision 0.29 points to TorchCodec; its decoder is the one installed
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torchvision")
        try:
            images = decode_jpeg([j.data for j in jpegs], mode=ImageReadMode.RGB, device=device)
        except RuntimeError:  # one bad file fails the batch: find it
            images = []
            for jpeg in jpegs:
                try:
                    images.append(decode_jpeg(jpeg.data, mode=ImageReadMode.RGB, device=device))
                except RuntimeError:
                    images.append(None)
    return [None if image is None else orient(image.permute(1, 2, 0), jpeg.orientation)
            for image, jpeg in zip(images, jpegs)]


def cut_windows(image: torch.Tensor, windows: Sequence[Window]) -> list[torch.Tensor]:
    """:func:`~seafloorhmc.data.patches.cut_window` for a tensor image (reflected past the borders).

    Args:
        image: H x W x C pixels (any device).
        windows: The rectangles.

    Returns:
        One H x W x C tensor per window, on the image's device.
    """
    height, width = image.shape[:2]
    out = []
    for window in windows:
        rows, cols = window_indices(window, width, height)
        rows_t = torch.as_tensor(rows, device=image.device)
        cols_t = torch.as_tensor(cols, device=image.device)
        out.append(image.index_select(0, rows_t).index_select(1, cols_t))
    return out


def _area_weights(size_in: int, size_out: int, device: torch.device) -> torch.Tensor:
    """[size_out, size_in] weights of exact area averaging (OpenCV's INTER_AREA when shrinking).

    Output pixel ``i`` averages the input interval ``[i * s, (i + 1) * s)``, ``s = size_in / size_out``,
    each input pixel weighted by its overlap with it.
    """
    scale = size_in / size_out
    edges = torch.arange(size_out + 1, dtype=torch.float64) * scale
    starts, stops = edges[:-1, None], edges[1:, None]
    pixels = torch.arange(size_in, dtype=torch.float64)[None, :]
    overlap = (torch.minimum(stops, pixels + 1) - torch.maximum(starts, pixels)).clamp_(min=0)
    return (overlap / scale).to(device=device, dtype=torch.float32)


def _resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """H x W x C uint8 → height x width x C uint8, as albumentations resizes with OpenCV.

    Exact area averaging when shrinking (INTER_AREA), bilinear when enlarging (INTER_LINEAR),
    rounded to uint8 like them.
    """
    if (height, width) == tuple(image.shape[:2]):
        return image
    if height <= image.shape[0] and width <= image.shape[1]:
        x = image.permute(2, 0, 1).float()  # C x H x W
        rows = _area_weights(image.shape[0], height, image.device)
        cols = _area_weights(image.shape[1], width, image.device)
        y = torch.matmul(torch.matmul(rows, x), cols.T)
    else:
        x = image.permute(2, 0, 1)[None].float()
        y = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)[0]
    return y.round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0)


def shrink(image: torch.Tensor, shrink_to: int) -> torch.Tensor:
    """The image with its shorter side ``shrink_to`` (area interpolation), rounded to uint8.

    Args:
        image: H x W x C uint8.
        shrink_to: The new shorter side.

    Returns:
        The shrunk H' x W' x C uint8 image.
    """
    width, height = shrunk_size((image.shape[1], image.shape[0]), int(shrink_to))
    return _resize(image, height, width)


def eval_resize_crop(image: torch.Tensor, size: int, resize_ratio: float = 256 / 224) -> torch.Tensor:
    """The eval transform's geometry on a tensor: shorter side → ``round(size * resize_ratio)``, centre crop.

    Matches :func:`~seafloorhmc.data.transforms.eval_transform` (albumentations' rounding and crop
    offsets, area interpolation when shrinking, bilinear when enlarging) up to interpolation
    details of a few levels.

    Args:
        image: H x W x C uint8.
        size: Output side.
        resize_ratio: Shorter side before the crop, relative to ``size``.

    Returns:
        size x size x C uint8.
    """
    height, width = image.shape[:2]
    scale = round(size * resize_ratio) / min(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    resized = _resize(image, new_h, new_w)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[top:top + size, left:left + size]


def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """B x H x W x C pixels in 0-255 → B x C x H x W ``(x / 255 - mean) / std`` (albumentations' Normalize).

    Args:
        images: The batch.
        mean: Per-channel mean (of x / 255).
        std: Per-channel standard deviation.

    Returns:
        The normalised batch, channels first.
    """
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=images.device)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=images.device)
    return ((images.float() / 255.0 - mean_t) / std_t).permute(0, 3, 1, 2).contiguous()
