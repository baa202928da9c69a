"""BIIGLE CSV reports (biigle.de): image annotation reports and image-label reports.

Image annotation report, one row per annotation label (17 columns): ``annotation_label_id,
label_id, label_name, label_hierarchy, user_id, firstname, lastname, image_id, filename,
image_longitude, image_latitude, shape_id, shape_name, points, attributes, annotation_id,
created_at``. Read here: ``filename``, ``label_hierarchy`` (names root → leaf joined by " > "),
``shape_name`` + ``points`` (JSON pixel coordinates), and ``label_id``, ``user_id``,
``firstname``/``lastname``, ``annotation_id``, ``image_id`` into the record's meta/annotator.

Image-label report (whole-image labels): ``image_label_id, image_id, filename, longitude, latitude,
user_id, firstname, lastname, label_id, label_name, label_hierarchy``.

BIIGLE delivers either as a ZIP with one CSV per volume; both the ZIP and a single CSV are read.
Given the label tree export's ``labels.csv`` (``id, name, parent_id, ...``), labels are resolved
through ``label_id`` instead, so names are taken from the tree and an id outside it is an error.

Shapes → :class:`~seafloorhmc.data.records.Geometry`:
Point → point; Circle → circle (x, y, r); Rectangle (4 corners, possibly rotated) → the box
spanned by their min/max; Polygon → polygon; LineString → line; WholeFrame → whole;
Ellipse → polygon of its four stored points (the ends of its axes), whose centre is the ellipse's
centre — enough to cut a patch around it.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from ...labels import TaxonomyError, read_label_table
from ..errors import AnnotationFormatError
from ..formats import FORMATS, DataFormat
from ..records import AnnotationRecord, Geometry
from ..tables import Row, parse_table, require_records, resolve_image

__all__ = [
    "SOURCE", "SEP", "ANNOTATION_COLUMNS", "IMAGE_LABEL_COLUMNS", "SHAPES", "MIN_COORDS",
    "read_biigle_label_tree", "read_biigle_report", "report_csv_texts", "shape_geometry",
]

SOURCE = "biigle"
SEP = " > "
ANNOTATION_COLUMNS = ("filename", "label_hierarchy", "shape_name", "points")
IMAGE_LABEL_COLUMNS = ("image_label_id", "filename", "label_hierarchy")
# shape name → (geometry kind, number of coordinates; None = any even count ≥ the minimum)
SHAPES = {
    "point": ("point", 2),
    "circle": ("circle", 3),
    "rectangle": ("box", 8),
    "ellipse": ("polygon", 8),
    "polygon": ("polygon", None),
    "linestring": ("line", None),
    "wholeframe": ("whole", 0),
}
MIN_COORDS = {"polygon": 6, "line": 4}


def read_biigle_label_tree(path: str | Path) -> dict[str, tuple[str, ...]]:
    """The label tree of BIIGLE's ``labels.csv``: label id → name path from the root.

    Args:
        path: The ``labels.csv`` of a label-tree export (``id,name,parent_id,...``).

    Returns:
        Label id → names from the root down.

    Raises:
        AnnotationFormatError: If the table is not a tree (the message names the row or label).
    """
    try:
        return read_label_table(path)
    except TaxonomyError as err:
        raise AnnotationFormatError(str(err).removeprefix(f"{path}: "), path) from None


def read_biigle_report(
    path: str | Path,
    image_root: str | Path | None = None,
    label_tree: str | Path | dict[str, tuple[str, ...]] | None = None,
    encoding: str = "utf-8-sig",
) -> list[AnnotationRecord]:
    """Records from a BIIGLE CSV report (or a ZIP of them).

    Args:
        path: The report CSV or ZIP.
        image_root: Folder the file names are relative to (default: the report's folder).
        label_tree: BIIGLE's label-tree export (or its parsed form) to expand label names into paths.
        encoding: Text encoding of the CSVs.

    Returns:
        The annotation records.

    Raises:
        AnnotationFormatError: Bad input, naming the file, row and column.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    tree = read_biigle_label_tree(label_tree) if isinstance(label_tree, (str, Path)) else label_tree
    records: list[AnnotationRecord] = []
    for name, text in report_csv_texts(path, encoding):
        records.extend(_read_one(text, name, root, tree))
    return require_records(records, path)


def report_csv_texts(path: Path, encoding: str = "utf-8-sig") -> Iterator[tuple[str, TextIO]]:
    """(display name, text stream) of each CSV in a report: the file itself, or a ZIP's members.

    Streams are read row by row (:func:`~seafloorhmc.data.tables.parse_table`), so a large report
    is never held in memory as text; read each stream before asking for the next.

    Args:
        path: A BIIGLE CSV report, or the ZIP BIIGLE delivers (one CSV per volume).
        encoding: Text encoding.

    Yields:
        (``file`` or ``file.zip:member``, open text stream) per CSV, ZIP members in name order.

    Raises:
        AnnotationFormatError: If the file or ZIP cannot be read, or the ZIP holds no CSV.
    """
    try:
        is_zip = zipfile.is_zipfile(path)
        if not is_zip:
            with open(path, encoding=encoding, newline="") as handle:
                yield str(path), handle
            return
        with zipfile.ZipFile(path) as archive:
            members = sorted(
                m for m in archive.namelist()
                if m.lower().endswith(".csv") and not m.startswith("__MACOSX/") and not m.endswith("/"))
            if not members:
                raise AnnotationFormatError("the ZIP holds no CSV report", path)
            for member in members:
                with archive.open(member) as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as handle:
                    yield f"{path}:{member}", handle
    except zipfile.BadZipFile as err:
        raise AnnotationFormatError(f"cannot read ZIP: {err}", path) from None
    except OSError as err:
        raise AnnotationFormatError(f"cannot read file: {err.strerror or err}", path) from None


def _read_one(text: str | TextIO, name: str, root: Path,
              tree: dict[str, tuple[str, ...]] | None) -> list[AnnotationRecord]:
    header, rows = parse_table(text, name)
    image_labels = "image_label_id" in header
    required = IMAGE_LABEL_COLUMNS if image_labels else ANNOTATION_COLUMNS
    if tree is not None:
        required = (*required, "label_id")
    missing = [c for c in required if c not in header]
    if missing:
        kind = "image-label" if image_labels else "image annotation"
        raise AnnotationFormatError(
            f"not a BIIGLE {kind} report: missing column(s) {', '.join(map(repr, missing))}", name, 1)
    records = []
    for row in rows:
        filename = row.get("filename")
        if not filename:
            raise row.error("empty filename", "filename")
        geometry = Geometry("whole") if image_labels else shape_geometry(row)
        records.append(AnnotationRecord(
            image=resolve_image(root, filename), path=_label_path(row, tree), geometry=geometry,
            source=SOURCE, where=row.where, annotator=_annotator(row), meta=_meta(row)))
    return records


def _label_path(row: Row, tree: dict[str, tuple[str, ...]] | None) -> tuple[str, ...]:
    if tree is None:
        text = row.get("label_hierarchy") or row.get("label_name")
        if not text:
            raise row.error("empty label", "label_hierarchy")
        return row.path(text, SEP, "label_hierarchy")
    label_id = row.get("label_id")
    path = tree.get(label_id)
    if path is None:
        raise row.error(f"label id {label_id!r} is not in the label tree", "label_id")
    return path


def shape_geometry(row: Row) -> Geometry:
    """The geometry of an annotation report row from ``shape_name`` and ``points`` (module doc).

    Args:
        row: A row of an image annotation report.

    Returns:
        The annotation's geometry in pixels.

    Raises:
        AnnotationFormatError: For an unknown shape or the wrong number of coordinates, naming the row.
    """
    shape = row.get("shape_name")
    if shape.lower() not in SHAPES:
        raise row.error(f"unknown shape {shape!r}; expected one of "
                        "Point, Rectangle, Circle, Ellipse, Polygon, LineString, WholeFrame", "shape_name")
    kind, count = SHAPES[shape.lower()]
    coords = _points(row)
    if count is not None and len(coords) != count:
        raise row.error(f"a {shape} needs {count} coordinates, got {len(coords)}", "points")
    if count is None and (len(coords) < MIN_COORDS[kind] or len(coords) % 2):
        raise row.error(f"a {shape} needs an even number (at least {MIN_COORDS[kind]}) of coordinates, "
                        f"got {len(coords)}", "points")
    if kind == "box":
        xs, ys = coords[0::2], coords[1::2]
        coords = (min(xs), min(ys), max(xs), max(ys))
    if kind == "circle" and coords[2] <= 0:
        raise row.error(f"circle radius {coords[2]} is not positive", "points")
    return Geometry(kind, coords)


def _points(row: Row) -> tuple[float, ...]:
    text = row.get("points")
    if not text:
        return ()
    try:
        values = json.loads(text)
    except json.JSONDecodeError:
        raise row.error(f"points {text!r} is not a JSON array", "points") from None
    if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise row.error(f"points {text!r} must be a flat JSON array of numbers "
                        "(video annotation reports are not supported)", "points")
    return tuple(float(v) for v in values)


def _annotator(row: Row) -> str | None:
    name = " ".join(p for p in (row.get("firstname"), row.get("lastname")) if p)
    return name or row.get("user_id") or None


def _meta(row: Row) -> dict:
    keys = ("annotation_id", "annotation_label_id", "image_label_id", "label_id", "image_id", "user_id",
            "created_at")
    return {k: row.get(k) for k in keys if row.get(k)}


FORMATS.register("biigle", DataFormat(
    name="biigle", summary="BIIGLE CSV report (or its ZIP); shapes become patches; optional labels.csv tree",
    read=read_biigle_report, source="annotations", options={"image_root": "root", "label_tree": "label_tree"},
    required={"annotations": "/path/to/biigle_report.csv"}, geometry=True))
