"""Survey-sized synthetic photos with CoralNet point annotations: the input pipeline's realistic load.

Every other synthetic set here is 64-128 px PNGs, which hide what survey imagery costs: a
4000 x 3000 JPEG takes a hundred milliseconds or more to decode, and a CoralNet source annotates
25-200 points on each. :func:`write_survey_dataset` writes such photos and their exports:

    survey.json          parameters (written first: claims the folder)
    survey_000000.jpg    ... seabed texture with a textured blob of its class under every point
    label_map.csv        CoralNet label code → taxon path (``Label,path``)
    annotations.csv      CoralNet export ``Name,Row,Column,Label`` (written last: means "finished")

Train on it with ``data.format=coralnet``, ``data.annotations=<out>/annotations.csv``,
``data.label_map=<out>/label_map.csv``, ``data.group_by=annotation``; predict its points with
``seafloorhmc predict RUN <out>/annotations.csv --format coralnet``.

The texture has detail at every scale (low-frequency illumination, centimetre-scale sediment,
pixel grain), so the JPEGs are 3-5 MB at quality 90 like real frames and take as long to decode.
Each point's class decides the colour and grain of the blob painted around it, so a model can
learn the labels from a patch. Photo ``i`` depends only on ``(seed, i)``; the same arguments give
byte-identical files; an interrupted run is finished by running it again.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from ...utils.atomic import write_bytes, write_text

__all__ = ["SURVEY_LABELS", "SURVEY_VERSION", "SurveyPoint", "survey_points", "write_survey_dataset"]

SURVEY_VERSION = "1"
STATE, LABEL_MAP, ANNOTATIONS = "survey.json", "label_map.csv", "annotations.csv"
PATH_SEP = " > "

#: CoralNet-style label codes → (taxon path, RGB colour, grain amplitude, relative frequency).
SURVEY_LABELS: dict[str, tuple[str, tuple[int, int, int], float, float]] = {
    "ACRO": ("Biota > Cnidaria > Hard corals > Acropora", (196, 170, 120), 30.0, 6.0),
    "PORI": ("Biota > Cnidaria > Hard corals > Porites", (170, 140, 90), 12.0, 5.0),
    "POCI": ("Biota > Cnidaria > Hard corals > Pocillopora", (205, 120, 140), 22.0, 2.0),
    "SOFT": ("Biota > Cnidaria > Soft corals", (140, 110, 160), 16.0, 2.5),
    "SPON": ("Biota > Sponges", (220, 160, 60), 10.0, 1.5),
    "CCA": ("Biota > Algae > Crustose coralline algae", (200, 110, 150), 6.0, 4.0),
    "TURF": ("Biota > Algae > Turf algae", (90, 110, 60), 26.0, 8.0),
    "MACR": ("Biota > Algae > Macroalgae", (60, 130, 50), 36.0, 2.0),
    "URCH": ("Biota > Echinoderms > Sea urchins", (40, 30, 50), 20.0, 0.8),
    "SAND": ("Substrate > Sand", (190, 180, 150), 8.0, 10.0),
    "RUBB": ("Substrate > Rubble", (150, 140, 125), 32.0, 5.0),
}


class SurveyPoint(NamedTuple):
    """One annotated point: image name, pixel row and column (0-based, as CoralNet exports), label code."""

    name: str
    row: int
    column: int
    label: str


def _params(n_images: int, width: int, height: int, points: tuple[int, ...], quality: int, seed: int) -> dict:
    lo, hi = (int(p) for p in points)
    if n_images < 1 or width < 16 or height < 16:
        raise ValueError(f"need at least one image of at least 16 x 16 pixels, got {n_images} of {width} x {height}")
    if not 1 <= lo <= hi:
        raise ValueError(f"points per image must be a range 1 <= low <= high, got {points}")
    if not 1 <= quality <= 95:
        raise ValueError(f"JPEG quality must lie in 1..95, got {quality}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return {"n_images": int(n_images), "width": int(width), "height": int(height), "points": [lo, hi],
            "quality": int(quality), "seed": int(seed)}


def image_name(index: int) -> str:
    """File name of photo ``index``."""
    return f"survey_{index:06d}.jpg"


def survey_points(index: int, width: int, height: int, points: tuple[int, int], seed: int) -> list[SurveyPoint]:
    """The annotated points of photo ``index`` (drawn before its pixels, from ``(seed, index)`` only).

    Points are simple-random like a CoralNet source's default, kept 1 pixel inside the frame.

    Args:
        index: Photo number.
        width: Photo width.
        height: Photo height.
        points: Range (low, high) of the number of points.
        seed: Dataset seed.

    Returns:
        The photo's points with their label codes.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, 0)))
    count = int(rng.integers(points[0], points[1] + 1))
    codes = list(SURVEY_LABELS)
    weights = np.array([SURVEY_LABELS[c][3] for c in codes])
    labels = rng.choice(len(codes), size=count, p=weights / weights.sum())
    rows = rng.integers(1, height - 1, count)
    cols = rng.integers(1, width - 1, count)
    return [SurveyPoint(image_name(index), int(r), int(c), codes[k]) for r, c, k in zip(rows, cols, labels)]


def _noise(rng: np.random.Generator, height: int, width: int, cell: int, channels: int) -> np.ndarray:
    """Smooth noise with features of about ``cell`` pixels: a coarse grid, bicubic upsampling."""
    coarse = rng.standard_normal((height // cell + 2, width // cell + 2, channels), dtype=np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).reshape(height, width, channels)


def _render(index: int, marks: Sequence[SurveyPoint], width: int, height: int, seed: int) -> np.ndarray:
    """The pixels of one photo: textured seabed, one blob of its class around every point."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, 1)))
    base = np.array([120, 125, 105], dtype=np.float32) + rng.uniform(-15, 15, 3).astype(np.float32)
    light = 1.0 + 0.25 * _noise(rng, height, width, max(16, min(width, height) // 3), 1)  # strobe falloff
    canvas = (base * light + 20 * _noise(rng, height, width, 40, 1) + 6 * _noise(rng, height, width, 40, 3)
              + 10 * _noise(rng, height, width, 6, 1))
    for _, row, col, code in marks:
        _, colour, grain, _ = SURVEY_LABELS[code]
        radius = int(rng.integers(60, 160))
        top, left = max(0, row - radius), max(0, col - radius)
        bottom, right = min(height, row + radius + 1), min(width, col + radius + 1)
        ys, xs = np.ogrid[top - row:bottom - row, left - col:right - col]
        squash = rng.uniform(0.6, 1.0)
        inside = (xs / radius) ** 2 + (ys / (radius * squash)) ** 2 <= 1.0
        texture = grain * _noise(rng, bottom - top, right - left, max(2, int(grain // 4)), 1)
        blob = np.asarray(colour, dtype=np.float32) * light[top:bottom, left:right] + texture
        region = canvas[top:bottom, left:right]
        region[inside] = blob[inside]
    grain_noise = rng.integers(-9, 10, (height, width, 1), dtype=np.int16)
    return np.clip(canvas + grain_noise, 0, 255).astype(np.uint8)


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _check_folder(out: Path, params: dict, overwrite: bool) -> bool:
    """True when the folder already holds this finished dataset; refuses foreign or different ones."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"cannot write the survey dataset to {out}: it is a file")
    if not out.exists() or not any(out.iterdir()) or overwrite:
        return False
    try:
        recorded = json.loads((out / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if not isinstance(recorded, dict) or recorded.get("generator") != __name__:
        raise FileExistsError(f"folder {out} is not empty and holds no survey dataset; choose another folder "
                              "(or pass overwrite=True to write into it)")
    if recorded.get("version") != SURVEY_VERSION or recorded.get("params") != params:
        raise FileExistsError(f"folder {out} holds a survey dataset made with other settings ({recorded.get('params')}"
                              f"; asked for {params}); pass overwrite=True or choose another folder")
    return (out / ANNOTATIONS).is_file()


def write_survey_dataset(out_dir: str | Path, n_images: int = 12, width: int = 4000, height: int = 3000,
                         points: tuple[int, int] = (25, 100), quality: int = 90, seed: int = 0,
                         overwrite: bool = False, progress: bool = False) -> Path:
    """Write (or finish, or find) survey-sized JPEGs with a CoralNet export of their points (module doc).

    Args:
        out_dir: The dataset folder.
        n_images: Number of photos.
        width: Photo width in pixels.
        height: Photo height in pixels.
        points: Range (low, high) of annotated points per photo.
        quality: JPEG quality (Pillow's scale, 1-95).
        seed: Seed of points and pixels.
        overwrite: Write into a folder holding something else (files of the same names are replaced).
        progress: Show a progress bar.

    Returns:
        The path of ``annotations.csv``.

    Raises:
        ValueError: For impossible parameters.
        FileExistsError: If the folder holds another dataset or foreign files (without ``overwrite``).
    """
    params = _params(n_images, width, height, tuple(points), quality, seed)
    out = Path(out_dir)
    annotations = out / ANNOTATIONS
    if _check_folder(out, params, overwrite):
        return annotations
    out.mkdir(parents=True, exist_ok=True)
    annotations.unlink(missing_ok=True)
    write_text(out / STATE, json.dumps({"generator": __name__, "version": SURVEY_VERSION, "params": params},
                                       indent=2) + "\n")
    marks = [survey_points(i, width, height, params["points"], seed) for i in range(n_images)]
    todo = range(n_images)
    if progress:
        from tqdm import tqdm
        todo = tqdm(todo, desc="survey photos", unit="photo")
    for i in todo:
        target = out / image_name(i)
        if target.is_file() and not overwrite:
            continue  # written whole by an interrupted run (writes are atomic)
        buffer = io.BytesIO()
        Image.fromarray(_render(i, marks[i], width, height, seed)).save(buffer, format="JPEG", quality=quality)
        write_bytes(target, buffer.getvalue())
    write_text(out / LABEL_MAP, _csv(("Label", "path"), [(code, v[0]) for code, v in SURVEY_LABELS.items()]))
    write_text(annotations, _csv(("Name", "Row", "Column", "Label"), [p for photo in marks for p in photo]))
    return annotations
