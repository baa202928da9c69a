"""The predictions CSV: its columns, rows formatted a batch at a time, and the review queue.

Columns, in order:

* ``image`` (as the input names it); ``x``, ``y`` when any row is a point or region (its centre,
  in the input's units); ``shape`` when some regions are not points;
* ``predicted``: the deepest predicted taxa (p > threshold, no predicted child), each as
  ``Biota > Echinoderms > Sea urchins``, several joined by ``;``;
* ``uncertainty`` (4 decimals): the largest uncertainty among the row's predicted taxa
  (:func:`~seafloorhmc.prediction.suggestions.row_uncertainty`), and ``needs_review``
  (``true``/``false``: uncertainty > the review threshold, calibrated on validation so that the
  unflagged predicted taxa reach a target precision, :mod:`~seafloorhmc.prediction.review`);
* ``to_review``: the entries of ``predicted`` that hold a flagged taxon (the entry itself or one of
  its ancestors), ``;``-joined — what a reviewer of a multi-label image should look at;
* ``Machine suggestion i``, ``Machine confidence i`` for i = 1..k, interleaved as in CoralNet's
  export: taxon paths ranked by the chance of being the deepest label, confidences as integers 0-100;
* ``probabilities``: compact JSON ``{taxon path: p}`` of the nodes with p ≥ ``min_probability``
  (4 decimals), or with ``wide`` one column ``p:<taxon path>`` per node; paths are written as in
  ``predicted``, so one separator names nodes throughout the file;
* ``error``: empty, or why the row could not be predicted (the other prediction columns are then empty).

:class:`RowFile` writes rows to an open binary file as they come and remembers only each row's
byte offset and sort key, so the review queue (the same rows, most uncertain first, unreadable
images last) is assembled afterwards by seeking, without holding the rows in memory.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from array import array
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..taxonomy import Taxonomy
from .inputs import PredictionItem

__all__ = ["PredictionTable", "RowFile", "PROBABILITY_DECIMALS"]

PROBABILITY_DECIMALS = 4
PATH_JOIN = " > "
MULTI_JOIN = ";"


def _centre(geometry) -> tuple[float, float]:
    """Centre of a geometry in the units it was given in (pixels or fractions)."""
    return dataclasses.replace(geometry, normalised=False).centre()


def _number(value: float) -> str:
    return f"{value:g}"


class PredictionTable:
    """Header and row formatting for one run (module doc for the columns).

    Args:
        taxonomy: The model's hierarchy (names the nodes).
        items: All items of the run; their geometries decide whether place and shape columns appear.
        top_k: Machine suggestions per row.
        wide: One ``p:<path>`` column per node instead of one ``probabilities`` JSON column.
        min_probability: Probabilities below it are left out of the JSON column.
    """

    def __init__(self, taxonomy: Taxonomy, items: Sequence[PredictionItem], top_k: int = 5, wide: bool = False,
                 min_probability: float = 0.01) -> None:
        self.taxonomy = taxonomy
        self.top_k = int(top_k)
        self.wide = wide
        self.min_probability = float(min_probability)
        kinds = {item.geometry.kind for item in items if item.geometry is not None}
        self.with_place = bool(kinds)
        self.with_shape = bool(kinds - {"point"})
        self.display = [PATH_JOIN.join(taxonomy.node_path(i)) for i in range(len(taxonomy))]
        self._json_keys = [json.dumps(path, ensure_ascii=False) for path in self.display]
        self._lead = 1 + 2 * self.with_place + self.with_shape

    @property
    def header(self) -> list[str]:
        """The CSV column names, in order."""
        columns = ["image"] + (["x", "y"] if self.with_place else []) + (["shape"] if self.with_shape else [])
        columns += ["predicted", "uncertainty", "needs_review", "to_review"]
        for i in range(1, self.top_k + 1):
            columns += [f"Machine suggestion {i}", f"Machine confidence {i}"]
        columns += [f"p:{path}" for path in self.display] if self.wide else ["probabilities"]
        return columns + ["error"]

    def _lead_cells(self, item: PredictionItem) -> list[str]:
        cells = [item.name]
        if self.with_place:
            cells += [_number(v) for v in _centre(item.geometry)] if item.geometry is not None else ["", ""]
        if self.with_shape:
            cells.append(item.geometry.kind if item.geometry is not None else "")
        return cells

    def error_row(self, item: PredictionItem, message: str) -> list[str]:
        """A row for an item that could not be predicted, so the output still lists every input.

        Args:
            item: The item.
            message: Why it failed (the ``error`` cell).

        Returns:
            The row: the item's lead cells, empty prediction cells and the message.
        """
        return self._lead_cells(item) + [""] * (len(self.header) - self._lead - 1) + [message]

    def rows(self, items: Sequence[PredictionItem], probs: np.ndarray, deepest: np.ndarray, uncertainty: np.ndarray,
             needs_review: np.ndarray, top_nodes: np.ndarray, top_confidence: np.ndarray,
             to_review: np.ndarray | None = None) -> list[list[str]]:
        """One CSV row per item, from one batch's arrays (k' ≤ k suggestions).

        Args:
            items: The batch's items.
            probs: Node probabilities [b, N].
            deepest: Bool [b, N], the deepest predicted nodes.
            uncertainty: Row uncertainty [b].
            needs_review: Bool [b], the review flag.
            top_nodes: Suggested nodes [b, k'].
            top_confidence: Their confidences 0-100 [b, k'].
            to_review: Bool [b, N], the deepest predicted nodes that need review (None: none).

        Returns:
            The rows' cells.
        """
        missing = ["", ""] * (self.top_k - top_nodes.shape[1])
        display, keys, digits = self.display, self._json_keys, PROBABILITY_DECIMALS
        deepest_cells = self._joined(deepest)
        review_cells = self._joined(to_review) if to_review is not None else [""] * len(items)
        suggestions = [[cell for node, score in zip(nodes, scores) for cell in (display[node], str(score))]
                       for nodes, scores in zip(top_nodes.tolist(), top_confidence.tolist())]
        values = probs.tolist()  # Python floats format as the numpy scalars do, several times faster
        if self.wide:
            probability_cells = [[f"{v:.{digits}f}" for v in row] for row in values]
        else:
            kept = [np.flatnonzero(row).tolist() for row in probs >= self.min_probability]
            probability_cells = [["{" + ",".join(f"{keys[j]}:{row[j]:.{digits}f}" for j in nodes) + "}"]
                                 for row, nodes in zip(values, kept)]
        out = []
        for r, item in enumerate(items):
            row = self._lead_cells(item)
            row += [deepest_cells[r], f"{float(uncertainty[r]):.4f}", "true" if needs_review[r] else "false",
                    review_cells[r]]
            row += suggestions[r]
            row += missing
            row += probability_cells[r]
            row.append("")
            out.append(row)
        return out

    def _joined(self, chosen: np.ndarray) -> list[str]:
        """Per row, the display paths of its chosen nodes (bool [b, N]), ``;``-joined."""
        display = self.display
        return [MULTI_JOIN.join([display[j] for j in np.flatnonzero(row).tolist()]) for row in chosen]


class _Collect:
    """A file-like sink for ``csv.writer``: one ``write`` call per row, kept as a string."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines.append(text)


class RowFile:
    """Rows streamed into ``path`` (opened fresh), with offsets and keys kept for :meth:`write_sorted`.

    Args:
        path: The file to write (truncated).
        header: The CSV header row.
    """

    def __init__(self, path: str | Path, header: Sequence[str]) -> None:
        self.path = Path(path)
        self._handle = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._sink = _Collect()
        self._writer = csv.writer(self._sink, lineterminator="\n")
        self._offsets = array("q")
        self._keys = array("d")
        self._position = 0
        self._header_bytes = self._encode([list(header)])[0]
        self._write_bytes([self._header_bytes])

    def _encode(self, rows: Sequence[Sequence[str]]) -> list[bytes]:
        self._sink.lines.clear()
        self._writer.writerows(rows)
        return [line.encode("utf-8") for line in self._sink.lines]

    def _write_bytes(self, chunks: list[bytes]) -> None:
        self._handle.write(b"".join(chunks))
        self._position += sum(len(c) for c in chunks)

    def write(self, rows: Sequence[Sequence[str]], keys: Sequence[float]) -> None:
        """Append rows; ``keys`` order the review queue (ascending, ties in input order).

        Args:
            rows: CSV rows.
            keys: One sort key per row.

        Raises:
            ValueError: ``rows`` and ``keys`` differ in length.
        """
        if len(rows) != len(keys):
            raise ValueError(f"{len(rows)} rows but {len(keys)} sort keys")
        encoded = self._encode(rows)
        position = self._position
        for chunk in encoded:
            self._offsets.append(position)
            position += len(chunk)
        self._keys.extend(float(k) for k in keys)
        self._write_bytes(encoded)

    def __len__(self) -> int:
        return len(self._offsets)

    def close(self) -> None:
        """Close the file (again: nothing)."""
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> RowFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write_sorted(self, target: str | Path) -> None:
        """Copy the header and all rows to ``target`` in ascending key order (closes this file first).

        Args:
            target: The sorted file to write.
        """
        self.close()
        offsets = np.frombuffer(self._offsets, dtype=np.int64) if len(self._offsets) else np.zeros(0, np.int64)
        ends = np.append(offsets[1:], self._position)
        order: np.ndarray | list[int] = (np.argsort(np.frombuffer(self._keys, dtype=np.float64), kind="stable")
                                         if len(self._keys) else [])
        with open(self.path, "rb") as source, open(target, "wb") as sink:
            sink.write(self._header_bytes)
            for i in order:
                source.seek(int(offsets[i]))
                sink.write(source.read(int(ends[i] - offsets[i])))
