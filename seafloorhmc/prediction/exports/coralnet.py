"""CoralNet's annotation upload CSV: ``Name,Row,Column,Label`` + ``Machine suggestion/confidence 1..k``.

Input: a CoralNet annotations CSV (``Name``, ``Row``, ``Column``, optional ``Label``; the points to
label, e.g. CoralNet's own export of a source) and the label map (short code → taxon path, see
:mod:`seafloorhmc.data.readers.coralnet`). Output, one row per input row, in input order:

* ``Name``, ``Row``, ``Column``: exactly as the input wrote them (CoralNet matches points by them);
* ``Label``: a point that already carries a confirmed label keeps it (so a confirmed source can be
  audited against the machine); any other point gets the short code of its single label
  (:mod:`~seafloorhmc.prediction.single_label`: best valid path, stopped at its deepest node above
  the threshold), falling back to the deepest ancestor that has a code. No code on the path, nothing
  above the threshold, or an unreadable image: the ``Label`` stays empty and the count is reported;
* ``Machine suggestion i`` / ``Machine confidence i``, i = 1..k, interleaved as in CoralNet's own
  export: codes ranked by the chance that the point's deepest true label maps to them (the
  deepest-label scores of :mod:`~seafloorhmc.prediction.suggestions`, summed over the nodes that
  fall back to the same code), as integers 0-100.

CoralNet's upload parser matches headers case-insensitively, requires ``Name``, ``Row``,
``Column``, takes ``Label`` as the short code and ignores other columns; other input columns
(``Annotator``, image metadata) are not written. Two codes mapped to the same taxon path: the
first in the label map is written (and reported).
"""

from __future__ import annotations

from pathlib import Path

from ...data.readers.coralnet import read_coralnet_label_map, read_coralnet_rows
from ..items import PredictionItem
from .base import EXPORTS, NO_ENTRY, Export, ExportSummary, ItemResults, write_csv_rows

__all__ = ["CoralNetExport", "coralnet_header"]


def coralnet_header(top_k: int) -> list[str]:
    """The upload CSV's columns: ``Name,Row,Column,Label`` and k interleaved suggestion/confidence pairs.

    Args:
        top_k: Machine suggestions per point.

    Returns:
        The header.
    """
    pairs = [name for i in range(1, top_k + 1) for name in (f"Machine suggestion {i}", f"Machine confidence {i}")]
    return ["Name", "Row", "Column", "Label", *pairs]


@EXPORTS.register("coralnet")
class CoralNetExport(Export):
    """CoralNet upload CSV (module doc); needs the label map to write short codes."""

    name = "coralnet"
    summary = "CoralNet annotation upload CSV: Name,Row,Column,Label (short codes) + machine suggestions 1..k"
    input_format = "coralnet"
    requires = {"label_map": "--label-map codes.csv (short code → taxon path), to write CoralNet short codes"}

    def read(self) -> None:
        """Read the points and the label map; one item per distinct (image, point)."""
        assert self.options.label_map is not None  # required: Export.check refused the request without it
        mapping = read_coralnet_label_map(self.options.label_map, self.options.separator)
        self.duplicates: list[str] = []
        first: dict[tuple[str, ...], str] = {}
        for code, (path, _) in mapping.items():
            if path in first:
                self.duplicates.append(f"{code} (same taxon as {first[path]})")
                continue
            first[path] = code
        self.entries = [(code, path) for path, code in first.items()]
        root = Path(self.options.root) if self.options.root else self.source.parent
        self.points = read_coralnet_rows(self.source)
        index: dict[PredictionItem, int] = {}
        self.point_item = [index.setdefault(PredictionItem(str(root / p.name), p.name, p.geometry), len(index))
                           for p in self.points]
        self.items = list(index)

    def write(self, path: Path, results: ItemResults) -> ExportSummary:
        """Write the upload CSV (module doc).

        Args:
            path: Where to write.
            results: The per-item results.

        Returns:
            The rows written and what to know about them.
        """
        k = results.suggestions.shape[1]
        codes = [code for code, _ in self.entries]
        kept = no_label = no_code = failed = 0

        def rows():
            nonlocal kept, no_label, no_code, failed
            for point, item in zip(self.points, self.point_item):
                label = point.label
                if label:
                    kept += 1
                elif item in results.errors:
                    failed += 1
                else:
                    entry = int(results.label[item])
                    if entry != NO_ENTRY:
                        label = codes[entry]
                    elif results.label_node[item] == NO_ENTRY:
                        no_label += 1
                    else:
                        no_code += 1
                cells = [point.name, point.row, point.column, label]
                for entry, confidence in zip(results.suggestions[item].tolist(), results.confidences[item].tolist()):
                    cells += [codes[entry], confidence] if entry != NO_ENTRY else ["", ""]
                yield cells

        count = write_csv_rows(path, coralnet_header(k), rows())
        notes = []
        if kept:
            notes.append(f"{kept} of {count} points kept their confirmed Label (machine suggestions added beside it)")
        if no_label:
            notes.append(f"{no_label} points have an empty Label: no taxon on their best path has p > threshold")
        if no_code:
            notes.append(f"{no_code} points have an empty Label: no taxon on their path has a short code in the "
                         f"label map {self.options.label_map}")
        if failed:
            notes.append(f"{failed} points have an empty Label: their image could not be read "
                         f"(first: {next(iter(results.errors.values()))})")
        if self.duplicates:
            notes.append(f"label map codes mapped to a taxon that an earlier code already has, not written: "
                         f"{', '.join(self.duplicates)}")
        return ExportSummary(count, notes)
