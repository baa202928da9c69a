"""Files an adversarial user would feed seafloorhmc: broken images, odd-but-valid images, code-running pickles.

Each writer makes one small file (tiny images, a few hundred bytes), so a test suite can try every
case in seconds. The broken images must be refused naming the file; the odd ones (CMYK, 16-bit,
EXIF-rotated, non-ASCII names) must be read correctly.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["BROKEN_IMAGES", "ODD_IMAGES", "write_broken_image", "write_odd_image", "write_code_running_pickle",
           "bomb_png"]

#: Broken images and a phrase the reason for refusing each contains.
BROKEN_IMAGES = {
    "corrupt.png": "corrupt or unsupported",
    "truncated.jpg": "corrupt or unsupported",
    "random.jpg": "not a recognised",
    "bomb.png": "decompression-bomb guard",
    "empty.png": "not a recognised",
}
#: Unusual images that are perfectly usable.
ODD_IMAGES = ("cmyk.jpg", "grey16.png", "rotated.jpg", "fond marin é 海.png")


def _scene(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def bomb_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` pixels but holds almost no data.

    Args:
        width: Declared width.
        height: Declared height.

    Returns:
        The file's bytes (a few dozen): refused from the header, never decoded.
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + \
        chunk(b"IEND", b"")


def write_broken_image(folder: str | Path, name: str, size: int = 32, seed: int = 0) -> Path:
    """Write one of :data:`BROKEN_IMAGES`.

    Args:
        folder: Where to write it.
        name: Which one.
        size: Side of the image it is made from.
        seed: Pixel seed.

    Returns:
        The file.

    Raises:
        ValueError: For a name not in :data:`BROKEN_IMAGES`.
    """
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = _scene(size, seed)
    if name == "corrupt.png":
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        data = bytearray(buffer.getvalue())
        data[60:] = bytes(len(data) - 60)  # keep the header, zero the compressed pixels
        path.write_bytes(bytes(data))
    elif name == "truncated.jpg":
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    elif name == "random.jpg":
        path.write_bytes(np.random.default_rng(seed).integers(0, 256, 600, dtype=np.uint8).tobytes())
    elif name == "bomb.png":
        path.write_bytes(bomb_png())
    elif name == "empty.png":
        path.write_bytes(b"")
    else:
        raise ValueError(f"unknown broken image {name!r}; choose one of {', '.join(BROKEN_IMAGES)}")
    return path


def write_odd_image(folder: str | Path, name: str, size: int = 32, seed: int = 0) -> Path:
    """Write one of :data:`ODD_IMAGES` (valid, but unusual).

    Args:
        folder: Where to write it.
        name: Which one.
        size: Its side in pixels.
        seed: Pixel seed.

    Returns:
        The file.

    Raises:
        ValueError: For a name not in :data:`ODD_IMAGES`.
    """
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = _scene(size, seed)
    if name == "cmyk.jpg":
        Image.fromarray(pixels).convert("CMYK").save(path, format="JPEG", quality=95)
    elif name == "grey16.png":
        Image.fromarray(pixels[:, :, 0].astype(np.uint16) * 257).save(path)  # 16-bit grey (I;16)
    elif name == "rotated.jpg":
        image = Image.fromarray(pixels[:, : size // 2])
        exif = image.getexif()
        exif[0x0112] = 6  # rotate 90° clockwise on display
        image.save(path, format="JPEG", exif=exif.tobytes())
    elif name == ODD_IMAGES[-1]:
        Image.fromarray(pixels).save(path, format="PNG")
    else:
        raise ValueError(f"unknown odd image {name!r}; choose one of {', '.join(ODD_IMAGES)}")
    return path


class _RunsCode:
    """Unpickling this calls ``os.system`` — what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def write_code_running_pickle(path: str | Path, marker: str | Path) -> Path:
    """A ``torch.save`` file that creates ``marker`` if anyone unpickles it.

    Args:
        path: The file to write (.pt, .pth, or disguised under any name).
        marker: The file unpickling would create.

    Returns:
        ``path``.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"weight": torch.zeros(1)}, "payload": _RunsCode(Path(marker))}, path)
    return path
