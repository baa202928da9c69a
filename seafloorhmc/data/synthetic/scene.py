"""One image: which organisms are where (the plan), and painting that plan into pixels.

Planning and painting use separate generators, so an image's labels depend only on (seed, index)
and not on the image size or on whether its pixels were already written by an interrupted run.
Positions and sizes are fractions of the image side for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .camera import expose
from .organisms import PAINTERS, SIZES
from .seabed import CLUTTER, seabed_texture
from .shapes import Pen
from .taxonomy import MAX_ORGANISMS, MEAN_EXTRA_ORGANISMS, class_probabilities

__all__ = ["Organism", "Scene", "plan_scene", "render_scene"]

SUPERSAMPLE = 2              # paint at 2× and downsample: antialiased edges


@dataclass(frozen=True)
class Organism:
    """One drawn organism.

    Attributes:
        label: Its true (leaf) class path.
        x: Centre x as a fraction of the side.
        y: Centre y as a fraction of the side.
        radius: Radius as a fraction of the side.
        angle: Orientation in radians.
    """

    label: str
    x: float
    y: float
    radius: float
    angle: float


@dataclass(frozen=True)
class Scene:
    """Everything the labels of one image depend on (its pixels need a further generator).

    Attributes:
        organisms: The organisms, in drawing-plan order.
    """

    organisms: tuple[Organism, ...]

    @property
    def classes(self) -> list[str]:
        """Distinct true classes, sorted: what a perfect annotator would label."""
        return sorted({o.label for o in self.organisms})


def plan_scene(rng: np.random.Generator) -> Scene:
    """Draw the organism count, classes (long-tailed), sizes and non-crowding positions.

    Args:
        rng: The image's plan generator.

    Returns:
        The scene.
    """
    classes, probs = class_probabilities()
    count = int(min(1 + rng.poisson(MEAN_EXTRA_ORGANISMS), MAX_ORGANISMS))
    picks = rng.choice(len(classes), size=count, p=probs)
    placed: list[Organism] = []
    for k in picks:
        label = classes[int(k)]
        radius = float(rng.uniform(*SIZES[label]))
        best: tuple[float, float] | None = None
        best_gap = -np.inf
        for _ in range(20):  # keep organisms mostly visible: reject heavy overlaps
            x, y = rng.uniform(0.1, 0.9, 2)
            gap = min((np.hypot(x - o.x, y - o.y) / (radius + o.radius) for o in placed), default=np.inf)
            if gap > best_gap:
                best, best_gap = (float(x), float(y)), gap
            if gap >= 0.8:
                break
        assert best is not None  # the first try always beats -inf
        placed.append(Organism(label, best[0], best[1], radius, float(rng.uniform(0, 2 * np.pi))))
    return Scene(tuple(placed))


def render_scene(scene: Scene, size: int, rng: np.random.Generator) -> Image.Image:
    """Paint a scene: seabed, clutter, organisms in random overlap order, a few occluders, camera.

    Args:
        scene: The plan.
        size: Image side in pixels.
        rng: The image's pixel generator.

    Returns:
        The RGB image.
    """
    side = size * SUPERSAMPLE
    canvas = seabed_texture(rng, side)
    a = rng.uniform(0, 2 * np.pi)
    pen = Pen(ImageDraw.Draw(canvas, "RGBA"), rng, (float(np.cos(a)), float(np.sin(a))), side)
    for paint, (lo, hi), mean in CLUTTER.values():
        for _ in range(int(rng.poisson(mean))):
            x, y = rng.uniform(-0.05, 1.05, 2) * side
            paint(pen, x, y, rng.uniform(lo, hi) * side)
    shuffled = rng.permutation(len(scene.organisms))
    order = sorted(shuffled, key=lambda i: scene.organisms[i].label == "Biota > Fishes")  # fish swim on top
    for i in order:
        o = scene.organisms[i]
        PAINTERS[o.label](pen, o.x * side, o.y * side, o.radius * side, o.angle)
    for o in scene.organisms:  # partial occlusion: debris lying on an organism's edge
        if rng.random() < 0.2 and o.label != "Biota > Fishes":
            paint, (lo, hi), _ = CLUTTER["rock" if rng.random() < 0.5 else "shell"]
            a, d = rng.uniform(0, 2 * np.pi), o.radius * rng.uniform(0.7, 1.0)
            paint(pen, (o.x + d * np.cos(a)) * side, (o.y + d * np.sin(a)) * side,
                  min(rng.uniform(lo, hi), 0.5 * o.radius) * side)
    return expose(canvas, size, rng)
