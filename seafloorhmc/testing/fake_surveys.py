"""Tiny point-annotated surveys and the exports the annotation tools would write for them.

:func:`draw_point_survey` paints small photos with a few coloured discs each, the colour giving the
taxon, so a patch around each disc is learnable. The writers produce each tool's file exactly as
the tool documents it — CoralNet's annotations CSV and labelset export (with a path column added),
BIIGLE's 17-column image annotation report, image-label report and ``labels.csv`` tree, SQUIDLE+'s
dot-flattened annotation-set export with normalised points — so the round trips in the tests start
from what a user downloads.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["SURVEY_CODES", "FakePoint", "draw_point_survey", "write_coralnet_annotations", "write_coralnet_labelset",
           "write_biigle_label_tree", "write_biigle_annotation_report", "write_biigle_image_label_report",
           "write_squidle_export", "SQUIDLE_LABEL_IDS"]

#: CoralNet-style short code → taxon path of the survey's taxa (a forest: Biota, Substrate)
SURVEY_CODES = {
    "STAR": ("Biota", "Echinoderms", "Sea stars"),
    "URCH": ("Biota", "Echinoderms", "Sea urchins"),
    "SPON": ("Biota", "Sponges"),
    "SAND": ("Substrate", "Sand"),
}
_COLOURS = {"STAR": (235, 90, 30), "URCH": (90, 20, 150), "SPON": (240, 220, 60), "SAND": (200, 190, 160)}
#: SQUIDLE+-style label ids of the taxa and of the inner nodes
SQUIDLE_LABEL_IDS = {("Biota",): "1", ("Biota", "Echinoderms"): "2", ("Biota", "Echinoderms", "Sea stars"): "3",
                     ("Biota", "Echinoderms", "Sea urchins"): "4", ("Biota", "Sponges"): "5", ("Substrate",): "6",
                     ("Substrate", "Sand"): "7"}
_RADIUS = 5


@dataclass(frozen=True)
class FakePoint:
    """One annotated point: image file name, pixel column x and row y, short code, image size."""

    image: str
    x: int
    y: int
    code: str
    width: int
    height: int

    @property
    def path(self) -> tuple[str, ...]:
        """The taxon path of the point's code."""
        return SURVEY_CODES[self.code]


def draw_point_survey(folder: str | Path, n_images: int = 12, size: tuple[int, int] = (48, 40), seed: int = 0,
                      prefix: str = "img") -> list[FakePoint]:
    """PNG photos with three coloured discs each (colour = taxon) in ``folder``; the points, in order.

    Args:
        folder: Where the images go (created).
        n_images: How many images.
        size: (width, height) of every image.
        seed: Random seed (layout, colours, background).
        prefix: File name prefix.

    Returns:
        Three points per image, at the disc centres.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    width, height = size
    codes = list(SURVEY_CODES)
    cells = [(x, y) for x in range(8, width - 7, 16) for y in range(8, height - 7, 16)]
    points = []
    for i in range(n_images):
        name = f"{prefix}_{i:03d}.png"
        image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(20, 60, 3)))
        draw = ImageDraw.Draw(image)
        for c in rng.choice(len(cells), size=3, replace=False):
            x, y = cells[int(c)]
            code = codes[int(rng.integers(len(codes)))]
            draw.ellipse([x - _RADIUS, y - _RADIUS, x + _RADIUS, y + _RADIUS], fill=_COLOURS[code])
            points.append(FakePoint(name, int(x), int(y), code, width, height))
        image.save(folder / name)
    return points


def _write(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)


def write_coralnet_annotations(path: str | Path, points: Sequence[FakePoint],
                               labelled: Sequence[bool] | None = None) -> Path:
    """CoralNet's "Annotations" export: ``Name,Row,Column,Label`` + annotator columns, one row per point.

    Args:
        path: The CSV to write.
        points: The points.
        labelled: Per point, whether it carries its (confirmed) label; default all.

    Returns:
        ``path``.
    """
    labelled = [True] * len(points) if labelled is None else labelled
    rows = [(p.image, p.y, p.x, p.code if keep else "", "alice" if keep else "", "2024-05-01 10:00:00+00:00"
             if keep else "") for p, keep in zip(points, labelled)]
    return _write(path, ("Name", "Row", "Column", "Label", "Annotator", "Date annotated"), rows)


def write_coralnet_labelset(path: str | Path) -> Path:
    """CoralNet's labelset export (``Label ID, Short Code``) with the user's ``path`` column added.

    Args:
        path: The CSV to write.

    Returns:
        ``path``.
    """
    rows = [(100 + i, code, " > ".join(taxon)) for i, (code, taxon) in enumerate(SURVEY_CODES.items())]
    return _write(path, ("Label ID", "Short Code", "path"), rows)


def write_biigle_label_tree(path: str | Path) -> dict[tuple[str, ...], str]:
    """BIIGLE's ``labels.csv`` (``id, name, parent_id, color, label_tree_id, source_id``) of the survey's taxa.

    Args:
        path: The CSV to write.

    Returns:
        Taxon path → BIIGLE label id.
    """
    ids: dict[tuple[str, ...], str] = {}
    rows = []
    for taxon in SURVEY_CODES.values():
        for depth in range(1, len(taxon) + 1):
            prefix = taxon[:depth]
            if prefix not in ids:
                ids[prefix] = str(4000 + len(ids))
                rows.append((ids[prefix], prefix[-1], ids.get(prefix[:-1], ""), "0099ff", 7, ""))
    _write(path, ("id", "name", "parent_id", "color", "label_tree_id", "source_id"), rows)
    return ids


_BIIGLE_ANNOTATION_COLUMNS = (
    "annotation_label_id", "label_id", "label_name", "label_hierarchy", "user_id", "firstname", "lastname", "image_id",
    "filename", "image_longitude", "image_latitude", "shape_id", "shape_name", "points", "attributes", "annotation_id",
    "created_at")


def write_biigle_annotation_report(path: str | Path, points: Sequence[FakePoint],
                                   label_ids: dict[tuple[str, ...], str], circles: bool = True) -> Path:
    """BIIGLE's CSV image annotation report (17 columns), one Point or Circle annotation per point.

    Every third annotation is a Circle (shape id 4, ``[x, y, r]``), the rest Points (shape id 1).

    Args:
        path: The CSV to write.
        points: The points.
        label_ids: Taxon path → label id (:func:`write_biigle_label_tree`).
        circles: Make every third annotation a circle.

    Returns:
        ``path``.
    """
    image_ids = {name: 900 + i for i, name in enumerate(dict.fromkeys(p.image for p in points))}
    rows = []
    for i, p in enumerate(points):
        circle = circles and i % 3 == 2
        coords = [p.x, p.y, _RADIUS + 1] if circle else [p.x, p.y]
        attributes = json.dumps({"width": p.width, "height": p.height})
        rows.append((5000 + i, label_ids[p.path], p.path[-1], " > ".join(p.path), 3, "Joe", "Diver", image_ids[p.image],
                     p.image, "", "", 4 if circle else 1, "Circle" if circle else "Point", json.dumps(coords),
                     attributes, 7000 + i, "2024-05-01 10:00:00"))
    return _write(path, _BIIGLE_ANNOTATION_COLUMNS, rows)


def write_biigle_image_label_report(path: str | Path, images: Sequence[str], label_ids: dict[tuple[str, ...], str],
                                    label: tuple[str, ...] = ("Biota",)) -> Path:
    """BIIGLE's CSV image-label report (11 columns), one label per image.

    Args:
        path: The CSV to write.
        images: Image file names.
        label_ids: Taxon path → label id.
        label: The label every image carries.

    Returns:
        ``path``.
    """
    rows = [(8000 + i, 900 + i, name, "", "", 3, "Joe", "Diver", label_ids[label], label[-1], " > ".join(label))
            for i, name in enumerate(images)]
    return _write(path, ("image_label_id", "image_id", "filename", "longitude", "latitude", "user_id", "firstname",
                         "lastname", "label_id", "label_name", "label_hierarchy"), rows)


def write_squidle_export(path: str | Path, points: Sequence[FakePoint], labelled: Sequence[bool] | None = None) -> Path:
    """A SQUIDLE+ annotation-set export (``dataframe.csv``, dot-flattened), points normalised to [0, 1].

    Image keys have no extension (SQUIDLE+ keys rarely do; read with ``image_suffix=".png"``).

    Args:
        path: The CSV to write.
        points: The points.
        labelled: Per point, whether it carries its label; default all.

    Returns:
        ``path``.
    """
    labelled = [True] * len(points) if labelled is None else labelled
    media = {name: 300 + i for i, name in enumerate(dict.fromkeys(p.image for p in points))}
    rows = []
    for i, (p, keep) in enumerate(zip(points, labelled)):
        x, y = f"{p.x / p.width:.6f}", f"{p.y / p.height:.6f}"
        label = (SQUIDLE_LABEL_IDS[p.path], p.path[-1], " > ".join(p.path)) if keep else ("", "", "")
        rows.append((600 + i, x, y, "", media[p.image], p.image.removesuffix(".png"), *label, "false", "0.9" if keep
                     else "", "diver"))
    return _write(path, ("point.id", "point.x", "point.y", "point.t", "point.media.id", "point.media.key", "label.id",
                         "label.name", "label.lineage_names", "needs_review", "likelihood", "user.username"), rows)
