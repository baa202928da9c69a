"""SQUIDLE+: point labels with SQUIDLE+'s own review hooks, ``likelihood`` and ``needs_review``.

Input: a SQUIDLE+ annotation-set export (``dataframe.csv`` template, dot-flattened columns): the
image key ``point.media.key`` (``--image-suffix`` appended where it has no extension), and
``point.x``/``point.y`` as fractions of the image size (both empty: a whole-frame label, predicted on
the whole image). Output, one row per input row, in input order:

``point.id, point.media.id, point.media.key, point.x, point.y`` exactly as read, then
``label.id, label.name, label.lineage_names`` of the single label
(:mod:`~seafloorhmc.prediction.single_label`), ``likelihood`` (its probability, 4 decimals) and
``needs_review`` (``true`` when the label's uncertainty exceeds the review threshold calibrated on
validation, :mod:`~seafloorhmc.prediction.review`, or when there is no label or the image could not
be read).

``label.id`` is SQUIDLE+'s id of that label in the export's label scheme, taken from the input's own
``label.id``/``label.lineage_names`` pairs and from ``--label-map`` (any CSV with those two columns,
such as the export the model was trained on); a label whose id is not known keeps an empty
``label.id`` with its name and lineage (reported). Lineages are joined with ``--separator``
(``" > "``). The file reads back with :func:`seafloorhmc.data.readers.read_squidle`.
"""

from __future__ import annotations

from pathlib import Path

from ...data.errors import AnnotationFormatError
from ...data.readers.squidle import parse_lineage, squidle_point
from ...data.tables import Row, read_csv_rows
from ..items import PredictionItem
from .base import EXPORTS, NO_ENTRY, Export, ExportSummary, ItemResults, write_csv_rows

__all__ = ["SquidleExport", "SQUIDLE_HEADER"]

IMAGE_COLUMN = "point.media.key"
LINEAGE_COLUMN = "label.lineage_names"
SQUIDLE_HEADER = ["point.id", "point.media.id", "point.media.key", "point.x", "point.y", "label.id", "label.name",
                  LINEAGE_COLUMN, "likelihood", "needs_review"]


@EXPORTS.register("squidle")
class SquidleExport(Export):
    """SQUIDLE+ point labels with likelihood and needs_review (module doc)."""

    name = "squidle"
    summary = "SQUIDLE+ point labels: point.id, point.x/y as read, label.id/name/lineage_names, likelihood, " \
              "needs_review"
    input_format = "squidle"

    def read(self) -> None:
        """Read the points and the label ids the input (and ``--label-map``) know; one item per distinct place.

        Raises:
            AnnotationFormatError: Naming the file, row and column of input the tool would not have written.
        """
        _, rows = read_csv_rows(self.source, required=(IMAGE_COLUMN,))
        self.ids: dict[tuple[str, ...], str] = {}
        self._learn_ids(rows)
        if self.options.label_map:
            _, table = read_csv_rows(self.options.label_map, required=("label.id", LINEAGE_COLUMN))
            self._learn_ids(table)
        self.entries = [(self.ids.get(path, ""), path) for path in self.node_paths]
        root = Path(self.options.root) if self.options.root else self.source.parent
        suffix = self.options.image_suffix
        index: dict[PredictionItem, int] = {}
        self.rows: list[tuple[list[str], int]] = []
        for row in rows:
            key = row.get(IMAGE_COLUMN)
            if not key:
                raise row.error("empty image key", IMAGE_COLUMN)
            file = key + suffix if suffix and not key.lower().endswith(suffix.lower()) else key
            geometry = squidle_point(row)
            item = PredictionItem(str(root / file), key, None if geometry.kind == "whole" else geometry)
            cells = [row.get("point.id"), row.get("point.media.id"), key, row.get("point.x"), row.get("point.y")]
            self.rows.append((cells, index.setdefault(item, len(index))))
        if not self.rows:
            raise AnnotationFormatError("no points listed", self.source)
        self.items = list(index)

    def _learn_ids(self, rows: list[Row]) -> None:
        """Remember the label id of every lineage the rows name (the first id seen wins)."""
        for row in rows:
            label_id, lineage = row.get("label.id"), row.get(LINEAGE_COLUMN)
            if label_id and lineage and lineage.lower() not in ("nan", "none", "null", "[]"):
                path = row.path(parse_lineage(lineage), self.options.separator, LINEAGE_COLUMN)
                self.ids.setdefault(path, label_id)

    def write(self, path: Path, results: ItemResults) -> ExportSummary:
        """Write one row per input row (module doc).

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
                    yield cells + ["", "", "", "", "true"]
                    continue
                if entry == NO_ENTRY:
                    no_label += 1
                    yield cells + ["", "", "", "", "true"]
                    continue
                label_id, label_path = self.entries[entry]
                no_id += not label_id
                yield cells + [label_id, label_path[-1], self.display(label_path), f"{results.probability[item]:.4f}",
                               "true" if results.needs_review[item] else "false"]

        count = write_csv_rows(path, SQUIDLE_HEADER, rows())
        notes = []
        if no_label:
            notes.append(f"{no_label} points have no label: no taxon on their best path has p > threshold")
        if no_id:
            notes.append(f"{no_id} points have a label without a SQUIDLE+ label.id (neither the input nor --label-map "
                         "names its lineage); its name and lineage are written")
        if failed:
            notes.append(f"{failed} points have no label and needs_review=true: their image could not be read "
                         f"(first: {next(iter(results.errors.values()))})")
        return ExportSummary(count, notes)
