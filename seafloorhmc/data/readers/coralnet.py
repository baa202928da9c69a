"""CoralNet point annotations (coralnet.ucsd.edu "Annotations" CSV export / upload format).

Read: ``Name`` (image file name), ``Row`` (y pixel), ``Column`` (x pixel), ``Label`` (the source's
label short code; the upload help page calls it ``Label code``), and the optional ``Annotator`` and
``Date annotated``. As CoralNet's own upload parser does, header matching ignores case and
surrounding spaces, a UTF-8 BOM is dropped and unknown columns (machine suggestions/confidences,
image metadata) are ignored. Row/Column are 0-based since CoralNet's 2023 overhaul; older exports
are 1-based (``one_indexed=True``).

CoralNet labels are flat codes, so a mapping code → taxon path is required: a CSV with columns
``Label`` (or ``Short Code``/``Label code``) and ``path`` (components joined by ``map_sep``) and an
optional ``complete`` column, or a dict ``{code: "A > B" or ("A", "B")}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from sys import intern

from ...labels import TaxonomyError, split_path
from ..errors import AnnotationFormatError
from ..formats import FORMATS, DataFormat
from ..records import AnnotationRecord, Geometry
from ..tables import Row, point_from_row, read_csv_rows, require_records, resolve_image, stream_csv_rows

SOURCE = "coralnet"
LABEL_ALIASES = {"label code": "label", "short code": "label"}
log = logging.getLogger(__name__)


def read_coralnet_label_map(
    label_map: str | Path | Mapping[str, str | Sequence[str]],
    map_sep: str = " > ",
    encoding: str = "utf-8-sig",
) -> dict[str, tuple[tuple[str, ...], bool]]:
    """Code → (taxon path, complete) from a mapping CSV or dict; duplicate codes are errors."""
    if isinstance(label_map, Mapping):
        mapping = {}
        for code, path in label_map.items():
            try:
                mapping[str(code).strip()] = (tuple(split_path(path, map_sep)), False)
            except TaxonomyError:
                raise AnnotationFormatError(f"label map entry {code!r}: path {path!r} has an empty component "
                                            f"(separator {map_sep!r})") from None
        return mapping
    _, rows = read_csv_rows(label_map, required=("label", "path"), aliases=LABEL_ALIASES, encoding=encoding)
    mapping: dict[str, tuple[tuple[str, ...], bool]] = {}
    first_row: dict[str, int] = {}
    for row in rows:
        code = row.get("label")
        if not code:
            raise row.error("empty label code", "label")
        if code in mapping:
            raise row.error(f"label code {code!r} is mapped twice (first at row {first_row[code]})", "label")
        if not row.get("path"):
            raise row.error(f"label code {code!r} has no path", "path")
        mapping[code] = (row.path(row.get("path"), map_sep, "path"), row.flag("complete"))
        first_row[code] = row.line
    if not mapping:
        raise AnnotationFormatError("the label map is empty", label_map)
    return mapping


def read_coralnet(
    path: str | Path,
    label_map: str | Path | Mapping[str, str | Sequence[str]],
    image_root: str | Path | None = None,
    one_indexed: bool = False,
    map_sep: str = " > ",
    skip_unlabelled: bool = False,
    encoding: str = "utf-8-sig",
) -> list[AnnotationRecord]:
    """One point record per CSV row, mapped through ``label_map``; pixel (x, y) = (Column, Row).

    Unknown label codes, negative or non-integer Row/Column are errors naming the row. Rows with an
    empty label (unannotated points) are errors, or skipped and counted with ``skip_unlabelled``.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    mapping = read_coralnet_label_map(label_map, map_sep, encoding)
    map_name = f" in label map {label_map}" if isinstance(label_map, (str, Path)) else " in the label map"
    _, rows = stream_csv_rows(path, required=("name", "row", "column", "label"), aliases=LABEL_ALIASES,
                              encoding=encoding)
    offset = 1 if one_indexed else 0
    records: list[AnnotationRecord] = []
    skipped = 0
    for row in rows:
        code = row.get("label")
        if not code:
            if skip_unlabelled:
                skipped += 1
                continue
            raise row.error("empty label (pass skip_unlabelled=True to skip unannotated points)", "label")
        if code not in mapping:
            raise row.error(f"unknown label code {code!r}: not found{map_name}", "label")
        name = row.get("name")
        if not name:
            raise row.error("empty image name", "name")
        y, x = (_pixel(row, col, offset) for col in ("row", "column"))
        taxon, complete = mapping[code]
        meta = {"label_code": intern(code)}  # interned: exports repeat codes, images and names on every row
        if row.get("date annotated"):
            meta["date_annotated"] = intern(row.get("date annotated"))
        annotator = row.get("annotator")
        records.append(AnnotationRecord(
            image=intern(resolve_image(root, name)), path=taxon, complete=complete,
            geometry=Geometry("point", (x, y)), source=SOURCE, where=row.where,
            annotator=intern(annotator) if annotator else None, meta=meta))
    if skipped:
        log.warning("%s: skipped %d point(s) without a label", path, skipped)
    return require_records(records, path, skipped, "no label")


def read_coralnet_points(path: str | Path, image_root: str | Path | None = None,
                         encoding: str = "utf-8-sig") -> list[tuple[str, str, Geometry]]:
    """The points of a CoralNet export to predict on, labelled or not (``Name``, ``Row``, ``Column``).

    Args:
        path: The CSV (0-based pixel rows and columns, as CoralNet exports them).
        image_root: Folder the image names are relative to (default: the CSV's folder).
        encoding: Text encoding (a UTF-8 BOM is dropped).

    Returns:
        (file to open, image name, point) per row, in file order.

    Raises:
        AnnotationFormatError: Naming the row and column of an empty name or a bad pixel index.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    _, rows = stream_csv_rows(path, required=("name", "row", "column"), aliases=LABEL_ALIASES, encoding=encoding)
    items = []
    for row in rows:
        name = row.get("name")
        if not name:
            raise row.error("empty image name", "name")
        geometry = point_from_row(row, "column", "row")
        if geometry is None:
            raise row.error("no point given", "row")
        items.append((str(root / name), name, geometry))
    if not items:
        raise AnnotationFormatError("no points listed", path)
    return items


def _pixel(row: Row, column: str, offset: int) -> float:
    text = row.get(column)
    try:
        value = int(text)
    except ValueError:
        raise row.error(f"{text!r} is not a whole pixel index", column) from None
    value -= offset
    if value < 0:
        base = "1-based" if offset else "0-based"
        raise row.error(f"pixel index {text} is negative as a {base} index", column)
    return float(value)


FORMATS.register("coralnet", DataFormat(
    name="coralnet", summary="CoralNet annotation export: Name,Row,Column,Label codes + a code → taxon path map",
    read=read_coralnet, source="annotations", options={"label_map": "label_map", "image_root": "root"},
    required={"annotations": "/path/to/annotations.csv",
              "label_map": "/path/to/codes.csv (label code → taxon path)"},
    geometry=True, read_unlabelled=read_coralnet_points))
