"""The seabed behind the organisms: sediment texture plus unlabelled rocks, pebbles and shells.

Texture is multi-octave value noise (random grids upsampled bicubically by PIL) with optional
sand ripples, so no two backgrounds repeat and a CNN cannot key on a fixed pattern. Rocks and
shells are clutter that is never labelled; shells and pale pebbles are deliberately close in
colour and size to sand dollars and urchins.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .shapes import Pen, cast_shadow, ellipse_outline, pick, polar_outline, polygon, px, shade, smooth_noise

__all__ = ["SUBSTRATES", "seabed_texture", "rock", "pebble", "shell", "CLUTTER"]

# Base colour and texture strength of each sediment type.
SUBSTRATES: dict[str, dict] = {
    "sand": {"color": (178, 162, 124), "noise": 22.0, "ripples": 0.6},
    "mud": {"color": (112, 106, 86), "noise": 14.0, "ripples": 0.1},
    "silt": {"color": (132, 128, 116), "noise": 16.0, "ripples": 0.3},
    "dark sand": {"color": (140, 124, 98), "noise": 20.0, "ripples": 0.5},
}


def _value_noise(rng: np.random.Generator, side: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a random (cells+1)² grid resized to side² with bicubic filtering."""
    grid = rng.random((cells + 1, cells + 1), dtype=np.float64).astype(np.float32)
    return np.asarray(Image.fromarray(grid, mode="F").resize((side, side), Image.Resampling.BICUBIC))


def seabed_texture(rng: np.random.Generator, side: int) -> Image.Image:
    """An RGB sediment image of side² pixels: colour, blotches, ripples and grain.

    Args:
        rng: The image's pixel generator.
        side: Side in pixels.

    Returns:
        The seabed image.
    """
    name = list(SUBSTRATES)[int(rng.integers(len(SUBSTRATES)))]
    spec = SUBSTRATES[name]
    base = np.asarray(spec["color"], dtype=np.float32) + (rng.normal(0, 14) + rng.normal(0, 4, 3)).astype(np.float32)
    field = np.zeros((side, side), dtype=np.float32)
    for cells, amp in ((3, 1.0), (7, 0.6), (16, 0.35), (40, 0.2)):
        field += amp * (_value_noise(rng, side, cells) - 0.5)
    if rng.random() < spec["ripples"]:
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
        phi = rng.uniform(0, np.pi)
        wavelength = rng.uniform(0.08, 0.16)
        warp = 2.5 * (_value_noise(rng, side, 4) - 0.5)
        field += rng.uniform(0.3, 0.7) * np.sin(
            2 * np.pi * (xx * np.cos(phi) + yy * np.sin(phi)) / wavelength + warp * 3).astype(np.float32)
    grain = rng.normal(0, 1, (side, side)).astype(np.float32)
    tint = 1 + 0.05 * (_value_noise(rng, side, 5) - 0.5)[..., None] * rng.normal(0, 1, 3).astype(np.float32)
    img = (base * tint + (spec["noise"] * field + 6.0 * grain)[..., None])
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="RGB")


def rock(pen: Pen, cx: float, cy: float, r: float) -> None:
    """An angular grey-brown stone, lit from the strobe side.

    Args:
        pen: The image's pen.
        cx: Centre x in pixels.
        cy: Centre y in pixels.
        r: Radius in pixels.
    """
    rng = pen.rng
    color = pick(rng, [(105, 100, 95), (80, 78, 76), (125, 110, 90), (150, 145, 135)], 12)
    k = int(rng.integers(7, 12))
    radius = r * rng.uniform(0.7, 1.0, k)
    outline = polar_outline(cx, cy, radius, rng.uniform(0, 2 * np.pi))
    cast_shadow(pen, outline, r * 0.15, alpha=90)
    polygon(pen, outline, color, outline=shade(color, 0.7))
    hi = polar_outline(cx - pen.shadow[0] * r * 0.2, cy - pen.shadow[1] * r * 0.2, radius * 0.55,
                       rng.uniform(0, 2 * np.pi))
    polygon(pen, hi, shade(color, 1.2, alpha=120))


def pebble(pen: Pen, cx: float, cy: float, r: float) -> None:
    """A small rounded stone; pale ones look a little like irregular urchins on purpose.

    Args:
        pen: The image's pen.
        cx: Centre x in pixels.
        cy: Centre y in pixels.
        r: Radius in pixels.
    """
    rng = pen.rng
    color = pick(rng, [(190, 185, 175), (120, 115, 105), (90, 85, 80), (210, 200, 180)], 14)
    outline = ellipse_outline(cx, cy, r, r * rng.uniform(0.6, 1.0), rng.uniform(0, 2 * np.pi),
                              wobble=0.1 * smooth_noise(rng, 24, 2))
    cast_shadow(pen, outline, r * 0.2, alpha=80)
    polygon(pen, outline, color, outline=shade(color, 0.75))


def shell(pen: Pen, cx: float, cy: float, r: float) -> None:
    """An empty bivalve shell: a ribbed fan (scallop) or a broken fragment.

    Args:
        pen: The image's pen.
        cx: Centre x in pixels.
        cy: Centre y in pixels.
        r: Radius in pixels.
    """
    rng = pen.rng
    color = pick(rng, [(235, 225, 205), (225, 185, 160), (215, 200, 170), (200, 190, 185)], 10)
    a0 = rng.uniform(0, 2 * np.pi)
    hinge = np.array([cx, cy]) - r * 0.6 * np.array([np.cos(a0), np.sin(a0)])
    spread = rng.uniform(0.9, 1.3) if rng.random() < 0.7 else rng.uniform(0.4, 0.7)
    ang = np.linspace(a0 - spread, a0 + spread, 20)
    rim = hinge + (1.6 * r * (1 + 0.03 * np.cos(ang * 25)))[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1)
    outline = np.concatenate([hinge[None], rim])
    cast_shadow(pen, outline, r * 0.12, alpha=70)
    polygon(pen, outline, color, outline=shade(color, 0.7))
    for a in ang[2:-2:3]:
        end = hinge + 1.5 * r * np.array([np.cos(a), np.sin(a)])
        pen.draw.line([hinge[0], hinge[1], end[0], end[1]], fill=shade(color, 0.8), width=px(r * 0.06))


# Clutter painters with their radius range (fraction of the canvas) and mean count per image.
CLUTTER = {
    "pebble": (pebble, (0.012, 0.04), 5.0),
    "rock": (rock, (0.05, 0.14), 0.8),
    "shell": (shell, (0.03, 0.06), 0.7),
}
