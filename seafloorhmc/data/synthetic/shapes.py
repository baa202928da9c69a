"""Geometry and colour helpers shared by the seabed and organism painters.

Shapes are built as numpy point arrays (so rotation, bending and tapering are vector maths) and
handed to PIL ``ImageDraw`` as flat coordinate lists. Drawing uses an ``ImageDraw`` in "RGBA" mode
on an RGB canvas, which alpha-blends fills: that gives soft shadows and translucent tissue for free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from PIL import ImageDraw

__all__ = ["Color", "Pen", "polar_outline", "ellipse_outline", "heading_path", "ribbon", "smooth_noise", "flat",
           "ellipse_box", "polygon", "cast_shadow", "jitter", "pick", "shade", "px"]

Color = tuple[int, int, int] | tuple[int, int, int, int]


@dataclass
class Pen:
    """What every painter needs: the canvas, the image's generator and its light direction.

    Attributes:
        draw: An ``ImageDraw`` in "RGBA" mode on the RGB canvas (fills alpha-blend).
        rng: The image's pixel generator.
        shadow: Unit offset (dx, dy) of cast shadows; the same for every object of one image
            because one strobe lights the whole frame.
        canvas: Side of the canvas in pixels.
    """

    draw: ImageDraw.ImageDraw
    rng: np.random.Generator
    shadow: tuple[float, float]
    canvas: int


def polar_outline(cx: float, cy: float, radius: np.ndarray, angle: float = 0.0) -> np.ndarray:
    """A star- or blob-shaped closed outline from radii at equally spaced angles.

    Args:
        cx: Centre x.
        cy: Centre y.
        radius: K radii.
        angle: Rotation in radians.

    Returns:
        Points [K, 2].
    """
    theta = np.linspace(0.0, 2.0 * np.pi, len(radius), endpoint=False) + angle
    return np.stack([cx + radius * np.cos(theta), cy + radius * np.sin(theta)], axis=1)


def ellipse_outline(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0,
                    wobble: np.ndarray | None = None) -> np.ndarray:
    """A closed, rotated ellipse outline, optionally wobbly.

    Args:
        cx: Centre x.
        cy: Centre y.
        rx: Radius along the rotated x axis.
        ry: Radius along the rotated y axis.
        angle: Rotation in radians.
        wobble: Relative radius change per point (K = len(wobble)); None for 48 points, no wobble.

    Returns:
        Points [K, 2].
    """
    k = 48 if wobble is None else len(wobble)
    theta = np.linspace(0.0, 2.0 * np.pi, k, endpoint=False)
    scale = 1.0 if wobble is None else 1.0 + wobble
    x, y = rx * np.cos(theta) * scale, ry * np.sin(theta) * scale
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def heading_path(x0: float, y0: float, headings: np.ndarray, step: float) -> np.ndarray:
    """Polyline [K+1, 2] that starts at (x0, y0) and takes K steps of length ``step``.

    Wiggly arms and bent bodies are a smooth heading function integrated along the length.

    Args:
        x0: Start x.
        y0: Start y.
        headings: K headings in radians.
        step: Length of each step.

    Returns:
        Points [K+1, 2].
    """
    dx = np.cos(headings) * step
    dy = np.sin(headings) * step
    xs = np.concatenate([[x0], x0 + np.cumsum(dx)])
    ys = np.concatenate([[y0], y0 + np.cumsum(dy)])
    return np.stack([xs, ys], axis=1)


def ribbon(center: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    """Polygon around a centre line with a half-width per point (tapered arms, sausage bodies).

    Args:
        center: Centre line [K, 2].
        half_width: K half-widths.

    Returns:
        Points [2K, 2]: the left side, then the right side backwards.
    """
    d = np.gradient(center, axis=0)
    norm = np.hypot(d[:, 0], d[:, 1])
    norm[norm == 0] = 1.0
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1) / norm[:, None]
    left = center + normal * half_width[:, None]
    right = center - normal * half_width[:, None]
    return np.concatenate([left, right[::-1]], axis=0)


def smooth_noise(rng: np.random.Generator, n: int, octaves: int = 3, periodic: bool = True) -> np.ndarray:
    """Low-frequency 1-D noise in about [-1, 1] (a few random sine harmonics), for organic wobble.

    Args:
        rng: The generator.
        n: Number of samples.
        octaves: Number of harmonics.
        periodic: Whether the samples wrap around (for closed outlines).

    Returns:
        n values.
    """
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=not periodic)
    out = np.zeros(n)
    for k in range(1, octaves + 1):
        out += rng.uniform(-1, 1) / k * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    return out


def flat(points: ArrayLike) -> list[float]:
    """Points as PIL's flat coordinate list.

    Args:
        points: Points [K, 2] (an array or a list of points).

    Returns:
        [x0, y0, x1, y1, ...].
    """
    return np.asarray(points, dtype=np.float64).ravel().tolist()


def ellipse_box(cx: float, cy: float, rx: float, ry: float | None = None) -> list[float]:
    """The bounding box PIL's ``ellipse`` takes.

    Args:
        cx: Centre x.
        cy: Centre y.
        rx: Horizontal radius.
        ry: Vertical radius (``rx`` when None: a circle).

    Returns:
        [left, top, right, bottom].
    """
    ry = rx if ry is None else ry
    return [cx - rx, cy - ry, cx + rx, cy + ry]


def polygon(pen: Pen, points: np.ndarray, fill: Color, outline: Color | None = None, width: int = 1) -> None:
    """Fill (and optionally outline) a polygon, alpha-blended.

    Args:
        pen: The image's pen.
        points: Points [K, 2].
        fill: Fill colour (RGB or RGBA).
        outline: Outline colour, if any.
        width: Outline width in pixels.
    """
    pen.draw.polygon(flat(points), fill=fill, outline=outline, width=width)


def cast_shadow(pen: Pen, points: np.ndarray, offset: float, alpha: int = 70) -> None:
    """Dark translucent copy of a shape shifted away from the strobe.

    Args:
        pen: The image's pen (its ``shadow`` gives the direction).
        points: The shape's points [K, 2].
        offset: Shift in pixels.
        alpha: Opacity of the shadow.
    """
    dx, dy = pen.shadow
    pen.draw.polygon(flat(points + np.array([dx * offset, dy * offset])), fill=(0, 0, 0, alpha))


def jitter(rng: np.random.Generator, base: tuple[int, int, int], spread: float = 18.0) -> tuple[int, int, int]:
    """A colour near ``base``: shared brightness change plus a smaller per-channel change.

    Args:
        rng: The generator.
        base: RGB base colour.
        spread: Standard deviation of the brightness change.

    Returns:
        RGB colour.
    """
    shift = rng.normal(0.0, spread) + rng.normal(0.0, spread / 2.5, 3)
    r, g, b = (int(v) for v in np.clip(np.asarray(base) + shift, 0, 255))
    return r, g, b


def pick(rng: np.random.Generator, palette: list[tuple[int, int, int]], spread: float = 18.0) -> tuple[int, int, int]:
    """A jittered colour from one of the palette's base colours.

    Args:
        rng: The generator.
        palette: RGB base colours.
        spread: See :func:`jitter`.

    Returns:
        RGB colour.
    """
    return jitter(rng, palette[int(rng.integers(len(palette)))], spread)


def shade(color: Color, factor: float, alpha: int | None = None) -> Color:
    """Darker (factor < 1) or lighter (factor > 1, blended toward white) version of a colour.

    Args:
        color: RGB or RGBA colour (alpha is dropped).
        factor: Brightness factor.
        alpha: Opacity of the result; None for RGB.

    Returns:
        RGB, or RGBA with ``alpha``.
    """
    rgb = np.asarray(color[:3], dtype=np.float64)
    rgb = rgb * factor if factor <= 1 else rgb + (255 - rgb) * (factor - 1)
    r, g, b = (int(v) for v in np.clip(rgb, 0, 255))
    return (r, g, b) if alpha is None else (r, g, b, alpha)


def px(value: float) -> int:
    """Line width in canvas pixels: at least 1, so thin features never vanish.

    Args:
        value: Width in (fractional) pixels.

    Returns:
        The rounded width, at least 1.
    """
    return max(1, int(round(value)))
