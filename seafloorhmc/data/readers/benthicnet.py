"""BenthicNet-style dataset CSVs (DalhousieAI/BenthicNet ``read_csv`` layout).

Read: ``dataset``, ``site``, ``image`` (image file = ``<dataset>/<site>/<image>``, ".jpg" appended
when ``image`` has no image extension), the label column (``catami_biota`` by default) holding
CATAMI paths such as ``[BIOTA] > Echinoderms > Sea urchins`` — one string, or several as a
Python/JSON list string — and the optional ``partition`` column (train / test; "val"/"validation"
→ val). Other columns (url, latitude, longitude, depth, ...) are ignored. Labels often stop at
coarse CATAMI nodes, so records are ``complete=False``. Lists of *node indices* (the probe CSVs of
benthicnet_probes) need that project's graph file and are refused with an explanation.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

from ..formats import FORMATS, DataFormat
from ..records import AnnotationRecord
from ..tables import Row, has_image_extension, parse_split, require_records, resolve_image, stream_csv_rows

__all__ = ["SOURCE", "EMPTY", "read_benthicnet"]

SOURCE = "benthicnet"
EMPTY = ("", "nan", "none", "null", "[]")
log = logging.getLogger(__name__)


def read_benthicnet(
    path: str | Path,
    image_root: str | Path | None = None,
    label_column: str = "catami_biota",
    sep: str = " > ",
    strip_root_brackets: bool = True,
    skip_unlabelled: bool = True,
    encoding: str = "utf-8-sig",
) -> list[AnnotationRecord]:
    """One record per (row, label path); ``image_root`` defaults to the CSV's folder.

    Rows with an empty label column are skipped and counted (logged) by default — BenthicNet
    images often carry substrate labels only — or are an error with ``skip_unlabelled=False``.
    ``strip_root_brackets`` turns the root ``[BIOTA]`` into ``BIOTA``.

    Args:
        path: The BenthicNet CSV.
        image_root: Folder the image paths are relative to (default: the CSV's folder).
        label_column: Column holding the label paths.
        sep: Separator between path components.
        strip_root_brackets: Turn ``[BIOTA]`` into ``BIOTA``.
        skip_unlabelled: Skip (and log) rows with an empty label instead of failing.
        encoding: Text encoding of the CSV.

    Returns:
        The annotation records.

    Raises:
        AnnotationFormatError: Bad input, naming the file, row and column.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    label_column = label_column.lower()
    _, rows = stream_csv_rows(path, required=("dataset", "site", "image", label_column), encoding=encoding)
    records: list[AnnotationRecord] = []
    skipped = 0
    for row in rows:
        texts = _label_texts(row, label_column)
        if not texts:
            if skip_unlabelled:
                skipped += 1
                continue
            raise row.error("empty label", label_column)
        image = _image_path(row)
        split = parse_split(row, "partition")
        for text in texts:
            taxon = row.path(text, sep, label_column)
            if strip_root_brackets and len(taxon[0]) > 2 and taxon[0][0] == "[" and taxon[0][-1] == "]":
                taxon = (taxon[0][1:-1].strip(), *taxon[1:])
            records.append(AnnotationRecord(image=resolve_image(root, image), path=taxon, source=SOURCE,
                                            where=row.where, split=split))
    if skipped:
        log.warning("%s: skipped %d row(s) with an empty %s", path, skipped, label_column)
    return require_records(records, path, skipped, f"empty {label_column}")


def _label_texts(row: Row, column: str) -> list[str]:
    """The row's label paths: a list literal's items, or the cell itself."""
    text = row.get(column)
    if text.lower() in EMPTY:
        return []
    if not (text.startswith("[") and text.endswith("]")):
        return [text]  # a single path, possibly with a bracketed root: "[BIOTA] > Echinoderms"
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return [text]  # not a list literal, e.g. the bare root "[BIOTA]"
    if not isinstance(value, (list, tuple)):
        return [text]
    if any(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise row.error(f"{text!r} lists node indices, not label paths; convert them to CATAMI paths with "
                        "the dataset's graph file (e.g. catami_ex.csv) first", column)
    items = [str(v).strip() for v in value]
    if not all(items):
        raise row.error(f"empty label path in {text!r}", column)
    return items


def _image_path(row: Row) -> str:
    parts = [row.get(col) for col in ("dataset", "site", "image")]
    for col, part in zip(("dataset", "site", "image"), parts):
        if not part:
            raise row.error(f"empty {col}", col)
    if not has_image_extension(parts[2]):
        parts[2] += ".jpg"
    return "/".join(parts)


FORMATS.register("benthicnet", DataFormat(
    name="benthicnet", summary="BenthicNet CSV: CATAMI paths in catami_biota, partition → split",
    read=read_benthicnet, source="annotations", options={"image_root": "root", "sep": "separator"},
    required={"annotations": "/path/to/benthicnet.csv"}))
