"""SQUIDLE+ annotation-set exports (squidle.org; ``dataframe.csv`` template, dot-flattened columns).

Read: the image key (``point.media.key`` by default), the label lineage
(``label.lineage_names``, or ``label.translated.lineage_names`` for a translated export) — a
" > "-joined string or a JSON/Python list of names — and the point ``point.x``/``point.y``, which
SQUIDLE+ stores as fractions [0, 1] of the image width/height (both empty = whole-frame label).
QA columns ``needs_review``, ``likelihood``, ``label.name``, ``label.id``, ``point.id``,
``point.media.id``, ``tag_names``, ``comment`` go into the record's meta, ``user.username`` into
its annotator. Lineages often stop at coarse CATAMI nodes, so every record is ``complete=False``.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path
from sys import intern

from ..formats import FORMATS, DataFormat
from ..records import AnnotationRecord, Geometry
from ..tables import Row, require_records, resolve_image, stream_csv_rows

__all__ = ["SOURCE", "TRANSLATED_COLUMN", "META_COLUMNS", "read_squidle", "parse_lineage", "squidle_point"]

SOURCE = "squidle"
TRANSLATED_COLUMN = "label.translated.lineage_names"
META_COLUMNS = ("label.name", "label.id", "point.id", "point.media.id", "tag_names", "comment")
log = logging.getLogger(__name__)


def read_squidle(
    path: str | Path,
    image_root: str | Path | None = None,
    image_column: str = "point.media.key",
    label_column: str = "label.lineage_names",
    sep: str = " > ",
    use_translated: bool = False,
    image_suffix: str = "",
    skip_unlabelled: bool = False,
    encoding: str = "utf-8-sig",
) -> list[AnnotationRecord]:
    """Records from a SQUIDLE+ export; ``image_root`` defaults to the export's folder.

    ``image_suffix`` (e.g. ".jpg") is appended to image keys that do not already end with it.
    Rows with an empty lineage are an error naming the row, or skipped and counted (logged) with
    ``skip_unlabelled=True``.

    Args:
        path: The SQUIDLE+ annotation export (CSV).
        image_root: Folder the image keys are relative to (default: the export's folder).
        image_column: Column holding the image key.
        label_column: Column holding the label lineage.
        sep: Separator of lineage strings that are not list literals.
        use_translated: Read the translated lineage column instead of ``label_column``.
        image_suffix: Appended to image keys that do not already end with it.
        skip_unlabelled: Skip (and log) rows with an empty lineage instead of failing.
        encoding: Text encoding of the CSV.

    Returns:
        The annotation records.

    Raises:
        AnnotationFormatError: Bad input, naming the file, row and column.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    label_column = TRANSLATED_COLUMN if use_translated else label_column.lower()
    image_column = image_column.lower()
    _, rows = stream_csv_rows(path, required=(image_column, label_column), encoding=encoding)
    records: list[AnnotationRecord] = []
    skipped = 0
    lineages: dict[str, tuple[str, ...] | None] = {}  # exports repeat a few lineages on every row: parse each once
    for row in rows:
        text = row.get(label_column)
        lineage = lineages[text] if text in lineages else lineages.setdefault(text, _lineage(row, label_column, sep))
        if lineage is None:
            if skip_unlabelled:
                skipped += 1
                continue
            raise row.error("empty label lineage (pass skip_unlabelled=True to skip such rows)", label_column)
        key = row.get(image_column)
        if not key:
            raise row.error("empty image key", image_column)
        if image_suffix and not key.lower().endswith(image_suffix.lower()):
            key += image_suffix
        annotator = row.get("user.username")
        records.append(AnnotationRecord(
            image=intern(resolve_image(root, key)), path=lineage, geometry=squidle_point(row), source=SOURCE,
            where=row.where, annotator=intern(annotator) if annotator else None, meta=_meta(row)))
    if skipped:
        log.warning("%s: skipped %d row(s) with an empty %s", path, skipped, label_column)
    return require_records(records, path, skipped, f"empty {label_column}")


def parse_lineage(text: str) -> list[str] | str:
    """A lineage cell as a list of names; exports write it as JSON or as a Python list literal.

    Args:
        text: The cell text.

    Returns:
        The names, or ``text`` unchanged when it is not a list literal.
    """
    if text.startswith("[") and text.endswith("]"):
        for parse in (json.loads, ast.literal_eval):
            try:
                value = parse(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
            if isinstance(value, (list, tuple)):
                return [str(v) for v in value]
    return text


def _lineage(row: Row, column: str, sep: str) -> tuple[str, ...] | None:
    text = row.get(column)
    if text.lower() in ("", "nan", "none", "null", "[]"):
        return None
    return row.path(parse_lineage(text), sep, column)


def squidle_point(row: Row) -> Geometry:
    """The point of a row: normalised ``point.x``/``point.y``, or the whole frame when both are empty.

    Args:
        row: A row of a SQUIDLE+ export.

    Returns:
        A normalised point, or a whole-frame geometry.

    Raises:
        AnnotationFormatError: If only one coordinate is given or one lies outside [0, 1], naming the row.
    """
    x, y = row.get("point.x"), row.get("point.y")
    if x.lower() in ("", "nan", "none", "null") and y.lower() in ("", "nan", "none", "null"):
        return Geometry("whole")
    coords = []
    for column in ("point.x", "point.y"):
        value = row.number(column) if row.get(column) else None
        if value is None:
            raise row.error("a point needs both point.x and point.y", column)
        if not 0.0 <= value <= 1.0:
            raise row.error(f"{value} is outside [0, 1] (SQUIDLE+ points are fractions of the image size)",
                            column)
        coords.append(value)
    return Geometry("point", tuple(coords), normalised=True)


def _meta(row: Row) -> dict:
    meta: dict[str, object] = {k: row.get(k) for k in META_COLUMNS if row.get(k)}
    if row.get("needs_review"):
        meta["needs_review"] = row.flag("needs_review")
    if row.get("likelihood"):
        meta["likelihood"] = row.number("likelihood")
    return meta


FORMATS.register("squidle", DataFormat(
    name="squidle", summary="SQUIDLE+ annotation export: label.lineage_names, normalised point.x/y",
    read=read_squidle, source="annotations",
    options={"image_root": "root", "sep": "separator", "image_suffix": "image_suffix"},
    required={"annotations": "/path/to/squidle_export.csv"}, geometry=True))
