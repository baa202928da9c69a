"""seafloorhmc's own CSV manifest: the simplest way to hand the toolkit labelled images.

Columns (header case and surrounding spaces do not matter):

* ``image`` — path relative to the manifest's folder (or to ``image_root``); absolute paths allowed.
* ``labels`` — one or more taxon paths joined by ``label_delimiter`` (";"), components joined by
  ``sep`` (" > "), e.g. ``Biota > Echinoderms > Sea urchins; Substrate > Sand``.
* ``split`` (optional) — train / val / test.
* ``complete`` (optional) — true/false/1/0/yes/no: the row's labels go as deep as the taxonomy does.
* ``x``, ``y`` (optional, together) — a pixel point the labels refer to.

Several rows may name the same image; :func:`~seafloorhmc.data.records.group_samples` merges them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ...utils.atomic import write_text
from ..errors import AnnotationFormatError
from ..formats import FORMATS, DataFormat
from ..records import AnnotationRecord, Geometry
from ..tables import Row, parse_split, point_from_row, require_records, resolve_image, stream_csv_rows

__all__ = ["SOURCE", "OPTIONAL_COLUMNS", "read_manifest", "read_manifest_images", "write_manifest"]

SOURCE = "manifest"
OPTIONAL_COLUMNS = ("split", "complete", "x", "y")


def read_manifest(
    path: str | Path,
    sep: str = " > ",
    label_delimiter: str = ";",
    image_root: str | Path | None = None,
    encoding: str = "utf-8-sig",
) -> list[AnnotationRecord]:
    """One record per (row, label); errors name the manifest row and column.

    Args:
        path: The manifest CSV (``image``, ``labels`` and optional ``split``, ``complete``, ``x``, ``y``).
        sep: Separator between path components.
        label_delimiter: Separator between the labels of one row.
        image_root: Folder the image paths are relative to (default: the manifest's folder).
        encoding: Text encoding of the CSV.

    Returns:
        The annotation records.

    Raises:
        AnnotationFormatError: Bad input, naming the file, row and column.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    _, rows = stream_csv_rows(path, required=("image", "labels"), encoding=encoding)
    records: list[AnnotationRecord] = []
    for row in rows:
        image = row.get("image")
        if not image:
            raise row.error("empty image path", "image")
        split = parse_split(row, "split")
        complete = row.flag("complete")
        geometry = point_from_row(row, "x", "y")
        for path_ in _labels(row, sep, label_delimiter):
            records.append(AnnotationRecord(
                image=resolve_image(root, image), path=path_, complete=complete, geometry=geometry,
                source=SOURCE, where=row.where, split=split))
    return require_records(records, path)


def _labels(row: Row, sep: str, delimiter: str) -> list[tuple[str, ...]]:
    text = row.get("labels")
    parts = [p.strip() for p in text.split(delimiter)] if text else []
    if not parts or not any(parts):
        raise row.error("no label given", "labels")
    if not all(parts):
        raise row.error(f"empty label between {delimiter!r} delimiters in {text!r}", "labels")
    return [row.path(part, sep, "labels") for part in parts]


def read_manifest_images(path: str | Path, image_root: str | Path | None = None,
                         encoding: str = "utf-8-sig") -> list[tuple[str, str, Geometry | None]]:
    """The images (and optional ``x``, ``y`` points) of a CSV to predict on; labels are not needed.

    Any CSV with an ``image`` column works, a training manifest included (its other columns are
    ignored).

    Args:
        path: The CSV.
        image_root: Folder the image paths are relative to (default: the CSV's folder).
        encoding: Text encoding (a UTF-8 BOM is dropped).

    Returns:
        (file to open, image as written, point or None) per row, in file order.

    Raises:
        AnnotationFormatError: Naming the row and column of an empty image or a bad point.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    header, rows = stream_csv_rows(path, required=("image",), encoding=encoding)
    if ("x" in header) != ("y" in header):
        raise AnnotationFormatError("has an x column without a y column (or the reverse); points need both", path)
    items = []
    for row in rows:
        image = row.get("image")
        if not image:
            raise row.error("empty image path", "image")
        items.append((str(root / image), image, point_from_row(row, "x", "y")))
    if not items:
        raise AnnotationFormatError("no images listed", path)
    return items


def write_manifest(
    path: str | Path,
    rows: Iterable[Mapping],
    sep: str = " > ",
    label_delimiter: str = ";",
) -> Path:
    """Write ``rows`` in the format :func:`read_manifest` reads, atomically.

    Each row is a mapping with ``image`` and ``labels`` (a list of paths, each a sequence of
    components or a string already joined with ``sep``) and optionally ``split``, ``complete``,
    ``x``, ``y``. Optional columns are written only when some row has them.

    Args:
        path: The manifest to write.
        rows: The rows, as described above.
        sep: Separator between path components.
        label_delimiter: Separator between the labels of one row.

    Returns:
        The path written.

    Raises:
        ValueError: A row lacks ``image`` or ``labels``, or has no labels (names the row).
    """
    rows = [dict(r) for r in rows]
    present = [col for col in OPTIONAL_COLUMNS if any(r.get(col) is not None for r in rows)]
    header = ["image", "labels", *present]
    lines = [header]
    for number, row in enumerate(rows):
        if "image" not in row or "labels" not in row:
            raise ValueError(f"manifest row #{number} needs 'image' and 'labels', got {sorted(row)}")
        labels = [_join_path(p, sep, label_delimiter, number) for p in row["labels"]]
        if not labels:
            raise ValueError(f"manifest row #{number} ({row['image']}) has no labels")
        cells = [str(row["image"]), label_delimiter.join(labels)]
        for col in present:
            value = row.get(col)
            cells.append("" if value is None else (str(bool(value)).lower() if col == "complete" else str(value)))
        lines.append(cells)
    return write_text(path, _to_csv(lines))


def _join_path(path: str | Sequence[str], sep: str, delimiter: str, number: int) -> str:
    parts = [path] if isinstance(path, str) else [str(p) for p in path]
    for part in parts:
        if not part.strip() or delimiter in part or (not isinstance(path, str) and sep in part):
            raise ValueError(f"manifest row #{number}: label {path!r} cannot be written with "
                             f"sep={sep!r} and label_delimiter={delimiter!r}")
    return sep.join(parts)


def _to_csv(lines: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    return buffer.getvalue()


FORMATS.register("manifest", DataFormat(
    name="manifest", summary="CSV manifest: image,labels[,split][,complete][,x,y]",
    read=read_manifest, source="annotations", read_unlabelled=read_manifest_images,
    options={"sep": "separator", "label_delimiter": "label_delimiter", "image_root": "root"},
    required={"annotations": "/path/to/manifest.csv"}))
