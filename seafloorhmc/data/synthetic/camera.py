"""What the survey camera does to a scene: downsampling, strobe light falloff, water, blur, noise.

Downward strobes light the centre of the frame more than the corners and one side more than the
other; water absorbs red; the lens is rarely perfectly focused; the sensor adds noise. Applying
this per image (with random strength) stops a classifier from relying on absolute colour or
brightness and makes small organisms harder, as in real survey imagery.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["expose"]


def expose(canvas: Image.Image, size: int, rng: np.random.Generator) -> Image.Image:
    """Turn a supersampled RGB canvas into the final ``size`` × ``size`` photograph.

    Args:
        canvas: The painted scene (any square size).
        size: Side of the photograph in pixels.
        rng: The image's pixel generator (strength of each effect).

    Returns:
        The RGB photograph.
    """
    img = canvas.resize((size, size), Image.Resampling.LANCZOS) if canvas.size != (size, size) else canvas
    blur = rng.uniform(0.0, 0.9) * size / 128 if rng.random() < 0.6 else 0.0
    if blur > 0.05:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(img, dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    ox, oy = rng.uniform(-0.2, 0.2, 2)
    vignette = 1.0 - rng.uniform(0.4, 1.3) * ((xx - ox) ** 2 + (yy - oy) ** 2)
    a = rng.uniform(0, 2 * np.pi)
    gradient = 1.0 + rng.uniform(0.0, 0.35) * (xx * np.cos(a) + yy * np.sin(a))
    light = np.clip(vignette * gradient, 0.2, 1.5) * rng.uniform(0.85, 1.15)
    water = np.array([rng.uniform(0.8, 0.97), rng.uniform(0.96, 1.02), rng.uniform(0.94, 1.05)], dtype=np.float32)
    arr = arr * light[..., None] * water + rng.normal(0, rng.uniform(1.0, 5.0), arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), mode="RGB")
