"""CoralNet point annotations (coralnet.ucsd.edu "Annotations" CSV export / upload format).

Read: ``Name`` (image file name), ``Row`` (y pixel), ``Column`` (x pixel), ``Label`` (the source's
label short code; the upload help page calls it ``Label code``), and the optional ``Annotator`` and
``Date annotated``. As CoralNet's own upload parser does, header matching ignores case and
surrounding spaces, a UTF-8 BOM is dropped and unknown columns (machine suggestions/confidences,
image metadata) are ignored. Row/Column are 0-based since CoralNet's 2023 overhaul; older exports
are 1-based (``one_indexed=True``).

CoralNet labels are flat codes, so a mapping code → taxon path is required (the *label map*): a
CSV, or a dict ``{code: "A > B" or ("A", "B")}``. The CSV's columns are found by name, case and
spaces ignored, the first present of each list winning:

* code: ``Short Code``, ``Label code``, ``Label``, ``code`` — so CoralNet's own labelset export
  (``Label ID, Short Code``) works once a path column is added;
* taxon path: ``path``, ``taxon_path`` (``taxon path``), ``name`` — components joined by ``map_sep``
  (``data.separator``, default ``" > "``);
* optional ``complete`` (true: no finer label applies, see :class:`~seafloorhmc.data.records.AnnotationRecord`).

Other columns (``Label ID``, functional group, ...) are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from sys import intern

from ...labels import TaxonomyError, split_path
from ..errors import AnnotationFormatError
from ..formats import FORMATS, DataFormat, UnlabelledItem
from ..records import AnnotationRecord, Geometry
from ..tables import Row, read_csv_rows, require_records, resolve_image, stream_csv_rows

__all__ = [
    "SOURCE", "LABEL_ALIASES", "CODE_COLUMNS", "PATH_COLUMNS", "LABEL_MAP_COLUMNS", "read_coralnet_label_map",
    "read_coralnet", "CoralNetPoint", "read_coralnet_rows", "read_coralnet_points",
]

SOURCE = "coralnet"
LABEL_ALIASES = {"label code": "label", "short code": "label"}
#: Label-map columns accepted for the code and the taxon path, in order of preference.
CODE_COLUMNS = ("short code", "label code", "label", "code")
PATH_COLUMNS = ("path", "taxon_path", "taxon path", "name")
LABEL_MAP_COLUMNS = ("code column: 'Short Code', 'Label code', 'Label' or 'code'; path column: 'path', "
                     "'taxon_path' or 'name'; optional 'complete'")
log = logging.getLogger(__name__)


def read_coralnet_label_map(
    label_map: str | Path | Mapping[str, str | Sequence[str]],
    map_sep: str = " > ",
    encoding: str = "utf-8-sig",
) -> dict[str, tuple[tuple[str, ...], bool]]:
    """Code → (taxon path, complete) from a label-map CSV or a dict (columns: module doc).

    Args:
        label_map: The CSV file, or a dict code → path (a ``map_sep``-joined string or names).
        map_sep: Separator between the components of a path.
        encoding: Text encoding of the CSV (a UTF-8 BOM is dropped).

    Returns:
        Code → (taxon path, whether the label is complete), in file order.

    Raises:
        AnnotationFormatError: Naming the file, row and column: no code or path column (the
            message lists the accepted ones), an empty code or path, a code mapped twice.
    """
    mapping: dict[str, tuple[tuple[str, ...], bool]] = {}
    if isinstance(label_map, Mapping):
        for code, path in label_map.items():
            try:
                mapping[str(code).strip()] = (tuple(split_path(path, map_sep)), False)
            except TaxonomyError:
                raise AnnotationFormatError(f"label map entry {code!r}: path {path!r} has an empty component "
                                            f"(separator {map_sep!r})") from None
        return mapping
    header, rows = read_csv_rows(label_map, encoding=encoding)
    code_column = next((c for c in CODE_COLUMNS if c in header), None)
    path_column = next((c for c in PATH_COLUMNS if c in header), None)
    if code_column is None or path_column is None:
        missing = "code column" if code_column is None else "taxon path column"
        raise AnnotationFormatError(f"the label map has no {missing} (accepted: {LABEL_MAP_COLUMNS}; header has "
                                    f"{', '.join(repr(c) for c in header)})", label_map, 1)
    first_row: dict[str, int] = {}
    for row in rows:
        code = row.get(code_column)
        if not code:
            raise row.error("empty label code", code_column)
        if code in mapping:
            raise row.error(f"label code {code!r} is mapped twice (first at row {first_row[code]})", code_column)
        if not row.get(path_column):
            raise row.error(f"label code {code!r} has no taxon path", path_column)
        mapping[code] = (row.path(row.get(path_column), map_sep, path_column), row.flag("complete"))
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

    Args:
        path: The CoralNet annotations CSV.
        label_map: Label code → taxon path (a CSV file or a mapping).
        image_root: Folder the image names are relative to (default: the CSV's folder).
        one_indexed: Row/Column count from 1 (subtract 1 to get pixels).
        map_sep: Separator of the label map's path strings.
        skip_unlabelled: Skip (and log) rows with an empty label instead of failing.
        encoding: Text encoding of the CSVs.

    Returns:
        One point record per annotated row.

    Raises:
        AnnotationFormatError: Bad input, naming the file, row and column.
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


@dataclass(frozen=True)
class CoralNetPoint:
    """One row of a CoralNet annotations CSV as written: the cells an upload must get back unchanged.

    Attributes:
        name: ``Name`` (the image file name).
        row: ``Row`` as written (0-based pixel row).
        column: ``Column`` as written.
        label: ``Label`` (the short code; empty for an unannotated point).
        geometry: The point, x = Column, y = Row, in pixels.
        where: ``file:row`` for messages.
    """

    name: str
    row: str
    column: str
    label: str
    geometry: Geometry
    where: str


def read_coralnet_rows(path: str | Path, encoding: str = "utf-8-sig") -> list[CoralNetPoint]:
    """Every point of a CoralNet annotations CSV, labelled or not, with its cells as written.

    As CoralNet's upload parser requires, ``Name``, ``Row`` and ``Column`` must be present and the
    pixel indices whole, non-negative numbers; ``Label`` (or ``Label code``) is optional.

    Args:
        path: The CSV.
        encoding: Text encoding (a UTF-8 BOM is dropped).

    Returns:
        The rows in file order.

    Raises:
        AnnotationFormatError: Naming the row and column of an empty name or a bad pixel index.
    """
    path = Path(path)
    _, rows = stream_csv_rows(path, required=("name", "row", "column"), aliases=LABEL_ALIASES, encoding=encoding)
    points = []
    for row in rows:
        name = row.get("name")
        if not name:
            raise row.error("empty image name", "name")
        y, x = (_pixel(row, col, 0) for col in ("row", "column"))
        points.append(CoralNetPoint(name, row.get("row"), row.get("column"), row.get("label"),
                                    Geometry("point", (x, y)), row.where))
    if not points:
        raise AnnotationFormatError("no points listed", path)
    return points


def read_coralnet_points(path: str | Path, image_root: str | Path | None = None,
                         encoding: str = "utf-8-sig") -> list[UnlabelledItem]:
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
    return [(str(root / p.name), p.name, p.geometry) for p in read_coralnet_rows(path, encoding)]


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
    read=read_coralnet, source="annotations",
    options={"label_map": "label_map", "image_root": "root", "map_sep": "separator"},
    required={"annotations": "/path/to/annotations.csv",
              "label_map": "/path/to/codes.csv (columns: Short Code or Label, and path)"},
    geometry=True, read_unlabelled=read_coralnet_points))
