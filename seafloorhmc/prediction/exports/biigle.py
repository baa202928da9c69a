"""BIIGLE: predicted labels as rows carrying BIIGLE's own ids, ready for its API or a label import.

Input: a BIIGLE CSV report (or the ZIP BIIGLE delivers) and the label tree's ``labels.csv``
(``id, name, parent_id``; ``--label-tree``). Every ``label_id`` written comes from that tree —
never a bare path — so each row can be posted as is (``POST /api/v1/image-annotations/{annotation_id}/labels``
with ``label_id`` and ``confidence``, or ``POST /api/v1/images/{image_id}/labels`` with ``label_id``).

* An **image annotation report** (``shape_name``, ``points``): one row per annotation, predicted on
  the patch its shape covers (WholeFrame: the whole image). The input's ``annotation_id``,
  ``image_id``, ``filename``, ``shape_name`` and ``points`` are kept as written, then ``label_id,
  label_name, label_hierarchy, confidence, needs_review``. An annotation listed on several rows
  (one per label, BIIGLE's layout) is written once.
* An **image-label report**, or any CSV with ``filename`` (and ``image_id``) but no shapes: one row
  per image, columns ``image_label_id`` (empty: a new label), ``image_id, filename, label_id,
  label_name, label_hierarchy, confidence, needs_review``.

The label is the single label of :mod:`~seafloorhmc.prediction.single_label`; ``label_hierarchy`` is
its name path joined by `` > `` (BIIGLE's separator), ``confidence`` its probability, ``needs_review``
the calibrated review flag (:mod:`~seafloorhmc.prediction.review`; also true without a label). A taxon without
a label in the tree falls back to its deepest ancestor that has one; nothing above the threshold or an
unreadable image leaves the label cells empty, and the count is reported. Both layouts read back with
:func:`seafloorhmc.data.readers.read_biigle_report` (``label_tree=labels.csv``).
"""

from __future__ import annotations

from pathlib import Path

from ...data.errors import AnnotationFormatError
from ...data.readers.biigle import SEP, read_biigle_label_tree, report_csv_texts, shape_geometry
from ...data.records import Geometry
from ...data.tables import parse_table
from ..items import PredictionItem
from .base import EXPORTS, NO_ENTRY, Export, ExportSummary, ItemResults, write_csv_rows

__all__ = ["BiigleExport", "ANNOTATION_HEADER", "IMAGE_LABEL_HEADER"]

LABEL_COLUMNS = ["label_id", "label_name", "label_hierarchy", "confidence", "needs_review"]
ANNOTATION_HEADER = ["annotation_id", "image_id", "filename", "shape_name", "points", *LABEL_COLUMNS]
IMAGE_LABEL_HEADER = ["image_label_id", "image_id", "filename", *LABEL_COLUMNS]


@EXPORTS.register("biigle")
class BiigleExport(Export):
    """BIIGLE rows with label ids from ``labels.csv`` (module doc)."""

    name = "biigle"
    summary = "BIIGLE rows with label_id from labels.csv: per annotation (shapes kept) or per image"
    input_format = "biigle"
    requires = {"label_tree": "--label-tree labels.csv (the BIIGLE label tree), so every label_id exists in it"}

    def read(self) -> None:
        """Read the report's annotations or images and the label tree; one item per distinct place.

        Raises:
            AnnotationFormatError: Naming the file, row and column of input the tool would not have written.
        """
        assert self.options.label_tree is not None  # required: Export.check refused the request without it
        tree = read_biigle_label_tree(self.options.label_tree)
        self.entries = [(label_id, path) for label_id, path in tree.items()]
        root = Path(self.options.root) if self.options.root else self.source.parent
        self.rows: list[tuple[list[str], int]] = []  # (input cells to keep, item)
        kinds = set()
        index: dict[PredictionItem, int] = {}
        seen: set[tuple] = set()
        geometry: Geometry | None
        key: tuple
        for name, text in report_csv_texts(self.source):
            header, rows = parse_table(text, name, required=("filename",))
            shapes = "shape_name" in header
            kinds.add(shapes)
            if shapes and "points" not in header:
                raise AnnotationFormatError("a report with shape_name needs a points column", name, 1)
            for row in rows:
                filename = row.get("filename")
                if not filename:
                    raise row.error("empty filename", "filename")
                if shapes:
                    geometry = shape_geometry(row)
                    key = ("a", row.get("annotation_id") or (filename, row.get("shape_name"), row.get("points")))
                    cells = [row.get("annotation_id"), row.get("image_id"), filename, row.get("shape_name"),
                             row.get("points")]
                    geometry = None if geometry.kind == "whole" else geometry
                else:
                    geometry = None
                    key = ("i", row.get("image_id"), filename)
                    cells = ["", row.get("image_id"), filename]
                if key in seen:
                    continue
                seen.add(key)
                item = PredictionItem(str(root / filename), filename, geometry)
                self.rows.append((cells, index.setdefault(item, len(index))))
        if len(kinds) > 1:
            raise AnnotationFormatError("the ZIP mixes annotation reports (shapes) and image-label reports; export "
                                        "them one kind at a time", self.source)
        if not self.rows:
            raise AnnotationFormatError("no annotations or images listed", self.source)
        self.shapes = kinds == {True}
        self.items = list(index)

    def write(self, path: Path, results: ItemResults) -> ExportSummary:
        """Write one row per annotation or image (module doc).

        Args:
            path: Where to write.
            results: The per-item results.

        Returns:
            The rows written and what to know about them.
        """
        no_label = no_id = failed = 0

        def rows():
            nonlocal no_label, no_id, failed
            for cells, item in self.rows:
                entry = int(results.label[item])
                if item in results.errors:
                    failed += 1
                elif entry == NO_ENTRY and results.label_node[item] == NO_ENTRY:
                    no_label += 1
                elif entry == NO_ENTRY:
                    no_id += 1
                if entry == NO_ENTRY or item in results.errors:
                    label = ["", "", "", ""]
                else:
                    label_id, label_path = self.entries[entry]
                    label = [label_id, label_path[-1], SEP.join(label_path), f"{results.probability[item]:.4f}"]
                review = "true" if item in results.errors or results.needs_review[item] else "false"
                yield cells + label + [review]

        count = write_csv_rows(path, ANNOTATION_HEADER if self.shapes else IMAGE_LABEL_HEADER, rows())
        what = "annotations" if self.shapes else "images"
        notes = []
        if no_label:
            notes.append(f"{no_label} {what} have no label: no taxon on their best path has p > threshold")
        if no_id:
            notes.append(f"{no_id} {what} have no label: no taxon on their path is in the label tree "
                         f"{self.options.label_tree}")
        if failed:
            notes.append(f"{failed} {what} have no label: their image could not be read "
                         f"(first: {next(iter(results.errors.values()))})")
        return ExportSummary(count, notes)
