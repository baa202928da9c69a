"""Painters for the labelled organisms, seen top-down as a survey camera sees them.

One function per leaf class, ``painter(pen, cx, cy, r, angle)`` with ``r`` the organism's radius
in canvas pixels. Siblings share colour ranges where biology allows (brittle vs basket stars,
heart urchins vs sand dollars) so that telling them apart needs shape: arm count and branching,
outline, petal pattern. ``SIZES`` gives each class's radius range as a fraction of the canvas.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .shapes import (
    Pen,
    cast_shadow,
    ellipse_box,
    flat,
    heading_path,
    pick,
    polar_outline,
    polygon,
    px,
    ribbon,
    shade,
    smooth_noise,
)

__all__ = ["PAINTERS", "SIZES", "Painter"]

Painter = Callable[[Pen, float, float, float, float], None]

_TAU = 2.0 * np.pi


# ---------------------------------------------------------------------------- echinoderms
def sea_star(pen: Pen, cx: float, cy: float, r: float, angle: float) -> None:
    """Five tapering arms around a broad disc; orange, red or purple, with pale tubercles."""
    rng = pen.rng
    color = pick(rng, [(225, 105, 35), (200, 45, 40), (125, 50, 125), (235, 140, 70)])
    arms = 5
    inner = r * rng.uniform(0.26, 0.42)
    sharp = rng.uniform(1.2, 2.6)
    arm_len = rng.uniform(0.8, 1.0, arms)
    arm_len[int(rng.integers(arms))] *= rng.choice([1.0, 1.0, 0.6])   # sometimes a regrowing arm
    theta = np.linspace(0.0, _TAU, 200, endpoint=False)
    idx = np.round(theta * arms / _TAU).astype(int) % arms
    prof = np.abs(np.cos(theta * arms / 2.0)) ** sharp
    radius = inner + (r - inner) * arm_len[idx] * prof
    outline = polar_outline(cx, cy, radius, angle)
    cast_shadow(pen, outline, r * 0.08)
    polygon(pen, outline, color, outline=shade(color, 0.6), width=px(r * 0.03))
    # Raised midline of each arm and a darker disc centre.
    for k in range(arms):
        a = angle + k * _TAU / arms
        end = inner + (r - inner) * arm_len[k] * 0.85
        pen.draw.line([cx, cy, cx + end * np.cos(a), cy + end * np.sin(a)],
                      fill=shade(color, 0.75), width=px(r * 0.06))
    pen.draw.ellipse(ellipse_box(cx, cy, inner * 0.55), fill=shade(color, 0.8))
    # Tubercles scattered along the arms.
    tub = shade(color, 1.45)
    for _ in range(int(rng.integers(12, 28))):
        k = int(rng.integers(arms))
        t = rng.uniform(0.15, 0.85)
        a = angle + k * _TAU / arms + rng.normal(0, 0.08)
        d = t * (inner + (r - inner) * arm_len[k])
        s = r * rng.uniform(0.025, 0.05)
        pen.draw.ellipse(ellipse_box(cx + d * np.cos(a), cy + d * np.sin(a), s), fill=tub)


_OPHIUROID_COLORS = [(150, 120, 100), (190, 150, 110), (120, 100, 95), (200, 120, 75), (165, 155, 145)]


def brittle_star(pen: Pen, cx: float, cy: float, r: float, angle: float) -> None:
    """A small round disc and five long, thin, snaking arms with dark bands."""
    rng = pen.rng
    color = pick(rng, _OPHIUROID_COLORS, 15)
    disc = r * rng.uniform(0.14, 0.2)
    band = shade(color, 0.55)
    arms = []
    for k in range(5):
        base = angle + k * _TAU / 5 + rng.normal(0, 0.12)
        steps = 24
        t = np.linspace(0, 1, steps)
        bend = rng.uniform(0.4, 1.1) * np.sin(_TAU * rng.uniform(0.5, 1.2) * t + rng.uniform(0, _TAU))
        headings = base + bend * t + rng.normal(0, 0.3) * t
        length = (r - disc) * rng.uniform(0.8, 1.0)
        start = (cx + disc * 0.7 * np.cos(base), cy + disc * 0.7 * np.sin(base))
        arms.append(heading_path(*start, headings, length / steps))
    half = np.linspace(disc * 0.32, max(0.6, disc * 0.06), 25)
    for path in arms:
        cast_shadow(pen, ribbon(path, half), r * 0.05, alpha=55)
    for path in arms:
        polygon(pen, ribbon(path, half), color)
        for j in range(3, len(path) - 1, 3):
            a, b = path[j], path[j + 1]
            nx, ny = -(b - a)[1], (b - a)[0]
            n = np.hypot(nx, ny) or 1.0
            w = half[j] * 1.1
            pen.draw.line([a[0] - nx / n * w, a[1] - ny / n * w, a[0] + nx / n * w, a[1] + ny / n * w],
                          fill=band, width=px(r * 0.025))
    disc_pts = polar_outline(cx, cy, disc * (1 + 0.08 * np.cos(5 * np.linspace(0, _TAU, 40, endpoint=False))), angle)
    polygon(pen, disc_pts, shade(color, 0.9), outline=band)
    for k in range(5):  # radial shields
        a = angle + (k + 0.5) * _TAU / 5
        pen.draw.ellipse(ellipse_box(cx + disc * 0.55 * np.cos(a), cy + disc * 0.55 * np.sin(a), disc * 0.22),
                         fill=shade(color, 1.3))


def basket_star(pen: Pen, cx: float, cy: float, r: float, angle: float) -> None:
    """Five arms that fork again and again into a tangle of curling branchlets."""
    rng = pen.rng
    color = pick(rng, _OPHIUROID_COLORS, 15)
    disc = r * rng.uniform(0.13, 0.18)
    levels = int(rng.integers(4, 6))
    segments: list[tuple[np.ndarray, float]] = []

    def grow(x: float, y: float, heading: float, length: float, width: float, level: int) -> None:
        steps = 6
        curl = rng.normal(0, 0.25) + (rng.choice([-1, 1]) * 0.5 if level >= levels - 1 else 0.0)
        headings = heading + curl * np.linspace(0, 1, steps)
        path = heading_path(x, y, headings, length / steps)
        segments.append((path, width))
        if level < levels:
            spread = rng.uniform(0.35, 0.6)
            for sign in (-1, 1):
                grow(path[-1, 0], path[-1, 1], headings[-1] + sign * spread, length * 0.72, width * 0.72, level + 1)

    first = (r - disc) * (1 - 0.72) / (1 - 0.72 ** (levels + 1)) * rng.uniform(0.9, 1.05)
    for k in range(5):
        base = angle + k * _TAU / 5 + rng.normal(0, 0.1)
        grow(cx + disc * 0.8 * np.cos(base), cy + disc * 0.8 * np.sin(base), base, first, disc * 0.5, 0)
    dx, dy = pen.shadow
    for path, width in segments:
        pen.draw.line(flat(path + np.array([dx, dy]) * r * 0.04), fill=(0, 0, 0, 50), width=px(width))
    for path, width in segments:
        pen.draw.line(flat(path), fill=color, width=px(width), joint="curve")
    pen.draw.ellipse(ellipse_box(cx, cy, disc), fill=shade(color, 0.85), outline=shade(color, 0.6))
    for k in range(5):
        a = angle + (k + 0.5) * _TAU / 5
        pen.draw.line([cx, cy, cx + disc * np.cos(a), cy + disc * np.sin(a)], fill=shade(color, 1.3),
                      width=px(disc * 0.25))


def regular_urchin(pen: Pen, cx: float, cy: float, r: float, angle: float) -> None:
    """A round test bristling with radial spines; dark purple, black or red."""
    rng = pen.rng
    color = pick(rng, [(70, 25, 75), (30, 25, 30), (150, 30, 35), (95, 40, 60)], 12)
    body = r * rng.uniform(0.5, 0.62)
    n = int(rng.integers(60, 100))
    ang = np.sort(rng.uniform(0, _TAU, n))
    length = r * rng.uniform(0.75, 1.0, n)
    pen.draw.ellipse(ellipse_box(cx + pen.shadow[0] * r * 0.12, cy + pen.shadow[1] * r * 0.12, body * 1.2),
                     fill=(0, 0, 0, 80))
    tip = shade(color, 1.5)
    for a, L in zip(ang, length):
        mid = 0.7 * L
        pen.draw.line([cx, cy, cx + mid * np.cos(a), cy + mid * np.sin(a)], fill=color, width=px(r * 0.045))
        pen.draw.line([cx + mid * np.cos(a), cy + mid * np.sin(a), cx + L * np.cos(a), cy + L * np.sin(a)],
                      fill=tip if rng.random() < 0.5 else color, width=px(r * 0.025))
    pen.draw.ellipse(ellipse_box(cx, cy, body), fill=shade(color, 0.85))
    dots = shade(color, 1.35)
    for k in range(5):  # ambulacral double rows of tube-foot pores
        a = angle + k * _TAU / 5
        for t in np.linspace(0.25, 0.9, 4):
            for side in (-0.12, 0.12):
                x, y = cx + t * body * np.cos(a + side), cy + t * body * np.sin(a + side)
                pen.draw.ellipse(ellipse_box(x, y, body * 0.045), fill=dots)
    pen.draw.ellipse(ellipse_box(cx, cy, body * 0.14), fill=shade(color, 0.5))


_IRREGULAR_COLORS = [(225, 210, 180), (205, 180, 145), (200, 190, 195), (215, 200, 160)]


def _petal(pen: Pen, cx: float, cy: float, a: float, start: float, length: float, width: float, color) -> None:
    """Leaf-shaped petal outline (the respiratory tube-foot rows of irregular urchins)."""
    t = np.linspace(0, 1, 14)
    half = width * np.sin(np.pi * t) ** 0.8
    along = start + length * t
    left = np.stack([along, half], 1)
    right = np.stack([along, -half], 1)[::-1]
    pts = np.concatenate([left, right])
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = pts @ rot.T + np.array([cx, cy])
    pen.draw.polygon(flat(pts), fill=shade(color, 0.78), outline=shade(color, 0.5), width=px(width * 0.35))


def heart_urchin(pen: Pen, cx: float, cy: float, r: float, angle: float) -> None:
    """An egg-shaped, notched, fuzzy test with four sunken petals and a front groove."""
    rng = pen.rng
    color = pick(rng, _IRREGULAR_COLORS, 12)
    a_len, b_wid = r, r * rng.uniform(0.7, 0.8)
    theta = np.linspace(0, _TAU, 120, endpoint=False)
    x = a_len * np.cos(theta)
    y = b_wid * np.sin(theta) * (1 - 0.12 * np.cos(theta))
    x = x - a_len * 0.3 * np.exp(-(((theta + np.pi) % _TAU - np.pi) / 0.28) ** 2)  # front notch
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    outline = np.stack([x, y], 1) @ rot.T + np.array([cx, cy])
    cast_shadow(pen, outline, r * 0.1)
    # Fuzz of short spines around the rim.
    fuzz = shade(color, 1.15)
    for p in outline[::2]:
        d = p - np.array([cx, cy])
        d = d / (np.hypot(*d) or 1)
        pen.draw.line([p[0], p[1], p[0] + d[0] * r * 0.14, p[1] + d[1] * r * 0.14], fill=fuzz, width=px(r * 0.03))
    polygon(pen, outline, color, outline=shade(color, 0.75), width=px(r * 0.03))
    ox, oy = np.array([cx, cy]) + rot @ np.array([-0.12 * a_len, 0.0])
    for off in (0.75, -0.75, 2.45, -2.45):  # two front and two back petals
        length = r * (0.5 if abs(off) < 1 else 0.42)
        _petal(pen, ox, oy, angle + np.pi + off, r * 0.05, length, r * 0.09, color)
    front = rot @ np.array([a_len * 0.8, 0.0])
    pen.draw.line([ox, oy, cx + front[0], cy + front[1]], fill=shade(color, 0.6), width=px(r * 0.07))


def sand_dollar(pen: Pen, cx: float, cy: float, r: float, angle: float) -> None:
    """A flat, almost circular disc with a five-petal flower and a thin rim."""
    rng = pen.rng
    color = pick(rng, _IRREGULAR_COLORS, 12)
    aspect = rng.uniform(0.93, 1.0)
    theta = np.linspace(0, _TAU, 90, endpoint=False)
    pts = np.stack([r * np.cos(theta), r * aspect * np.sin(theta)], 1)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    outline = pts @ rot.T + np.array([cx, cy])
    cast_shadow(pen, outline, r * 0.06)
    polygon(pen, outline, color, outline=shade(color, 0.7), width=px(r * 0.06))
    for k in range(5):
        _petal(pen, cx, cy, angle + k * _TAU / 5, r * 0.08, r * 0.58, r * 0.12, color)
    if rng.random() < 0.6:  # lunules: slots through the test between the petals
        for k in range(5):
            a = angle + (k + 0.5) * _TAU / 5
            x, y = cx + 0.72 * r * np.cos(a), cy + 0.72 * r * np.sin(a)
            pen.draw.ellipse(ellipse_box(x, y, r * 0.07), fill=shade(color, 0.5))
    pen.draw.ellipse(ellipse_box(cx, cy, r * 0.07), fill=shade(color, 0.6))


def sea_cucumber(pen: Pen, cx: float, cy: float, r: float, angle: float) -> None:
    """An elongated, slightly bent sausage covered in warts; brown to black."""
    rng = pen.rng
    color = pick(rng, [(110, 75, 45), (40, 34, 30), (95, 45, 35), (150, 115, 75)], 12)
    length = 2 * r
    steps = 30
    t = np.linspace(0, 1, steps)
    bend = rng.uniform(-0.8, 0.8) * (t - 0.5) + rng.uniform(-0.3, 0.3) * np.sin(np.pi * t * 2)
    path = heading_path(0, 0, angle + bend[:-1], length / (steps - 1))
    path = path - path.mean(0) + np.array([cx, cy])
    width = r * rng.uniform(0.2, 0.3)
    half = width * (1 - np.abs(2 * t - 1) ** 3.5) ** 0.5
    half = np.maximum(half, width * 0.25)
    body = ribbon(path, half)
    cast_shadow(pen, body, r * 0.08)
    polygon(pen, body, color, outline=shade(color, 0.6), width=px(r * 0.03))
    # Paler flank stripe, then warts (papillae) in rows and around the rim.
    pen.draw.line(flat(path[3:-3]), fill=shade(color, 1.12), width=px(width * 0.6), joint="curve")
    wart = shade(color, 1.5 if color[0] < 80 else 1.35)
    dark = shade(color, 0.55)
    for _ in range(int(rng.integers(18, 32))):
        j = int(rng.integers(2, steps - 2))
        side = rng.uniform(-0.85, 0.85)
        d = path[j + 1] - path[j - 1]
        n = np.array([-d[1], d[0]]) / (np.hypot(*d) or 1)
        p = path[j] + n * half[j] * side
        s = width * rng.uniform(0.1, 0.18)
        pen.draw.ellipse(ellipse_box(p[0], p[1], s), fill=wart, outline=dark)
    head = path[0]
    for a in np.linspace(0, _TAU, 8, endpoint=False):  # oral tentacle crown
        pen.draw.line([head[0], head[1], head[0] + np.cos(a) * width * 0.5, head[1] + np.sin(a) * width * 0.5],
                      fill=shade(color, 1.3), width=1)


def feather_star(pen: Pen, cx: float, cy: float, r: float, angle: float) -> None:
    """Ten to twenty thin arms radiating from a tiny cup, each combed with pinnules."""
    rng = pen.rng
    color = pick(rng, [(230, 200, 50), (190, 40, 40), (235, 150, 40), (225, 225, 170)], 14)
    n_arms = int(rng.choice([10, 10, 12, 15, 20]))
    pinnule = shade(color, 1.2)
    arm_w = px(r * 0.035)
    arms = []
    for k in range(n_arms):
        base = angle + k * _TAU / n_arms + rng.normal(0, 0.1)
        steps = 14
        t = np.linspace(0, 1, steps)
        headings = base + rng.normal(0, 0.25) * t + rng.uniform(-1.2, 1.2) * t ** 3
        path = heading_path(cx, cy, headings, r * rng.uniform(0.75, 1.0) / steps)
        arms.append((path, headings))
    dx, dy = pen.shadow
    for path, _ in arms:
        pen.draw.line(flat(path + np.array([dx, dy]) * r * 0.06), fill=(0, 0, 0, 45), width=arm_w + 1)
    for path, headings in arms:
        for j in range(2, len(path) - 1):
            for side in (-1, 1):
                a = headings[j] + side * rng.uniform(1.0, 1.3)
                L = r * 0.13 * (1 - 0.5 * j / len(path))
                pen.draw.line([path[j, 0], path[j, 1], path[j, 0] + L * np.cos(a), path[j, 1] + L * np.sin(a)],
                              fill=pinnule, width=1)
        pen.draw.line(flat(path), fill=color, width=arm_w, joint="curve")
    pen.draw.ellipse(ellipse_box(cx, cy, r * 0.1), fill=shade(color, 0.6))


# ---------------------------------------------------------------------------- distractors
def sponge(pen: Pen, cx: float, cy: float, r: float, angle: float) -> None:
    """An irregular lumpy blob with dark oscula and pores; colours overlap the echinoderms'."""
    rng = pen.rng
    color = pick(rng, [(220, 190, 60), (220, 120, 45), (150, 150, 140), (130, 80, 130), (225, 215, 195)])
    radius = r * (0.8 + 0.2 * smooth_noise(rng, 90, octaves=5))
    outline = polar_outline(cx, cy, radius, angle)
    cast_shadow(pen, outline, r * 0.12, alpha=80)
    polygon(pen, outline, color, outline=shade(color, 0.7), width=px(r * 0.03))
    hi = polar_outline(cx - pen.shadow[0] * r * 0.15, cy - pen.shadow[1] * r * 0.15, radius * 0.6, angle)
    polygon(pen, hi, shade(color, 1.15, alpha=150))
    pore = shade(color, 0.75)
    for _ in range(int(rng.integers(15, 35))):
        a, d = rng.uniform(0, _TAU), r * 0.75 * np.sqrt(rng.random())
        pen.draw.ellipse(ellipse_box(cx + d * np.cos(a), cy + d * np.sin(a), r * 0.025), fill=pore)
    for _ in range(int(rng.integers(1, 5))):
        a, d = rng.uniform(0, _TAU), r * 0.5 * np.sqrt(rng.random())
        pen.draw.ellipse(ellipse_box(cx + d * np.cos(a), cy + d * np.sin(a), r * rng.uniform(0.08, 0.14)),
                         fill=shade(color, 0.35), outline=shade(color, 0.8))


def sea_pen(pen: Pen, cx: float, cy: float, r: float, angle: float) -> None:
    """An upright quill: a central stalk with paired leaves, casting a long shadow."""
    rng = pen.rng
    color = pick(rng, [(240, 235, 220), (225, 110, 120), (235, 135, 50), (175, 100, 195)], 12)
    steps = 20
    t = np.linspace(0, 1, steps)
    headings = angle + rng.uniform(-0.3, 0.3) * t
    path = heading_path(0, 0, headings[:-1], 2 * r / (steps - 1))
    path = path - path.mean(0) + np.array([cx, cy])
    dx, dy = pen.shadow
    pen.draw.line(flat(path[int(steps * 0.3):] + np.array([dx, dy]) * r * 0.3), fill=(0, 0, 0, 40),
                  width=px(r * 0.2))
    leaf_col = shade(color, 0.92)
    for j in range(int(steps * 0.3), steps - 1):
        frac = (j - steps * 0.3) / (steps * 0.7)
        L = r * 0.5 * np.sin(np.pi * min(1.0, 0.15 + frac)) + r * 0.06
        for side in (-1, 1):
            a = headings[j] + side * 2.2
            tip = path[j] + L * np.array([np.cos(a), np.sin(a)])
            back = path[max(j - 2, 0)]
            pen.draw.polygon(flat([path[j], tip, back]), fill=leaf_col, outline=shade(color, 0.6))
            pen.draw.ellipse(ellipse_box(tip[0], tip[1], r * 0.035), fill=shade(color, 1.6))  # polyps
    pen.draw.line(flat(path), fill=shade(color, 0.8), width=px(r * 0.08), joint="curve")


def soft_coral(pen: Pen, cx: float, cy: float, r: float, angle: float) -> None:
    """A cauliflower colony: overlapping lobes covered in tiny pale polyps."""
    rng = pen.rng
    color = pick(rng, [(225, 120, 140), (200, 60, 60), (235, 150, 80), (170, 110, 170)], 14)
    lobes = int(rng.integers(4, 8))
    centres = []
    for k in range(lobes):
        a = angle + k * _TAU / lobes + rng.normal(0, 0.3)
        d = r * rng.uniform(0.25, 0.5)
        centres.append((cx + d * np.cos(a), cy + d * np.sin(a), r * rng.uniform(0.3, 0.5)))
    for x, y, s in centres:
        pen.draw.ellipse(ellipse_box(x + pen.shadow[0] * r * 0.15, y + pen.shadow[1] * r * 0.15, s),
                         fill=(0, 0, 0, 45))
    polyp = shade(color, 1.6)
    for x, y, s in centres:
        pen.draw.ellipse(ellipse_box(x, y, s), fill=shade(color, rng.uniform(0.85, 1.05)),
                         outline=shade(color, 0.65))
        for _ in range(int(10 * s / r * 4)):
            a, d = rng.uniform(0, _TAU), s * 0.85 * np.sqrt(rng.random())
            pen.draw.ellipse(ellipse_box(x + d * np.cos(a), y + d * np.sin(a), r * 0.035), fill=polyp)


def fish(pen: Pen, cx: float, cy: float, r: float, angle: float) -> None:
    """A spindle body with a forked tail and eyes, swimming above its own offset shadow."""
    rng = pen.rng
    color = pick(rng, [(185, 190, 195), (150, 115, 75), (205, 85, 60), (120, 125, 140)], 14)
    steps = 24
    t = np.linspace(0, 1, steps)
    headings = angle + rng.uniform(-0.4, 0.4) * (t - 0.5)
    path = heading_path(0, 0, headings[:-1], 1.8 * r / (steps - 1))
    path = path - path.mean(0) + np.array([cx, cy])
    width = r * rng.uniform(0.28, 0.36)
    half = width * np.sin(np.pi * np.clip(t * 0.95 + 0.03, 0, 1)) ** 0.6 * (1 - 0.5 * t)
    body = ribbon(path[::-1], half[::-1])  # head (wide) at the path's end
    tail_base, d = path[0], path[0] - path[2]
    d = d / (np.hypot(*d) or 1)
    n = np.array([-d[1], d[0]])
    tail = np.array([tail_base, tail_base + d * r * 0.35 + n * r * 0.3, tail_base + d * r * 0.2,
                     tail_base + d * r * 0.35 - n * r * 0.3])
    cast_shadow(pen, body, r * 0.5, alpha=60)
    cast_shadow(pen, tail, r * 0.5, alpha=60)
    fin = shade(color, 0.8)
    head, hd = path[-4], path[-1] - path[-4]
    hd = hd / (np.hypot(*hd) or 1)
    hn = np.array([-hd[1], hd[0]])
    for side in (-1, 1):  # pectoral fins
        base = head - hd * r * 0.1
        pen.draw.polygon(flat([base, base + side * hn * r * 0.35 - hd * r * 0.2, base - hd * r * 0.25]), fill=fin)
    polygon(pen, tail, fin)
    polygon(pen, body, color, outline=shade(color, 0.45), width=px(r * 0.04))
    pen.draw.line(flat(path[2:-2]), fill=shade(color, 0.55), width=px(width * 0.7))  # dark back
    if rng.random() < 0.5:  # dark cross bars, as on many demersal fish
        for j in (7, 12, 17):
            a, b = path[j] + hn * half[j] * 0.9, path[j] - hn * half[j] * 0.9
            pen.draw.line([a[0], a[1], b[0], b[1]], fill=shade(color, 0.4), width=px(r * 0.07))
    for side in (-1, 1):
        e = path[-3] + side * hn * half[-3] * 0.7
        pen.draw.ellipse(ellipse_box(e[0], e[1], r * 0.05), fill=(20, 20, 20), outline=(220, 220, 200))


# ---------------------------------------------------------------------------- registry
_E = "Biota > Echinoderms"
PAINTERS: dict[str, Painter] = {
    f"{_E} > Sea stars": sea_star,
    f"{_E} > Ophiuroids > Brittle stars": brittle_star,
    f"{_E} > Ophiuroids > Basket stars": basket_star,
    f"{_E} > Sea urchins > Regular urchins": regular_urchin,
    f"{_E} > Sea urchins > Irregular urchins > Heart urchins": heart_urchin,
    f"{_E} > Sea urchins > Irregular urchins > Sand dollars": sand_dollar,
    f"{_E} > Sea cucumbers": sea_cucumber,
    f"{_E} > Feather stars": feather_star,
    "Biota > Sponges": sponge,
    "Biota > Cnidaria > Sea pens": sea_pen,
    "Biota > Cnidaria > Soft corals": soft_coral,
    "Biota > Fishes": fish,
}

# Radius range of each class as a fraction of the canvas side.
SIZES: dict[str, tuple[float, float]] = {
    f"{_E} > Sea stars": (0.11, 0.18),
    f"{_E} > Ophiuroids > Brittle stars": (0.13, 0.2),
    f"{_E} > Ophiuroids > Basket stars": (0.14, 0.2),
    f"{_E} > Sea urchins > Regular urchins": (0.08, 0.13),
    f"{_E} > Sea urchins > Irregular urchins > Heart urchins": (0.08, 0.12),
    f"{_E} > Sea urchins > Irregular urchins > Sand dollars": (0.08, 0.12),
    f"{_E} > Sea cucumbers": (0.13, 0.2),
    f"{_E} > Feather stars": (0.12, 0.18),
    "Biota > Sponges": (0.08, 0.15),
    "Biota > Cnidaria > Sea pens": (0.1, 0.16),
    "Biota > Cnidaria > Soft corals": (0.09, 0.14),
    "Biota > Fishes": (0.11, 0.17),
}
