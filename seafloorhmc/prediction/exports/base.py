"""What every export shares: reading the input's rows, a label vocabulary, per-item results, the summary.

An export reads the annotation tool's own file (the points, shapes or images to label), keeps every
input row with what it needs to write it back unchanged, and lists the distinct places to predict
(:attr:`Export.items`; a place named twice is predicted once). Its *vocabulary* is what the tool
can hold as a label: CoralNet short codes, BIIGLE label ids, SQUIDLE+ lineages. Each taxonomy node
is written as the entry of its deepest ancestor-or-self that has one (:meth:`Export.node_entries`),
so a taxon the tool has no label for falls back to the nearest coarser one it has.

The prediction run (:mod:`seafloorhmc.prediction.exporting`) fills :class:`ItemResults` batch by
batch — per item a label entry, its probability, top-k suggestions over the vocabulary, the
uncertainty and the review flag — and :meth:`Export.write` joins them with the input rows. Memory is
a few numbers per item, never the probabilities. Nothing here loads torch, so the command line can
list the exports at once.
"""

from __future__ import annotations

import csv
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ...labels import PATH_ID_SEP
from ...registry import Registry
from ..items import PredictionItem

if TYPE_CHECKING:
    from ..options import PredictOptions

__all__ = ["EXPORTS", "Export", "ItemResults", "ExportSummary", "write_csv_rows", "NO_ENTRY"]

NO_ENTRY = -1


@dataclass
class ExportSummary:
    """What an export wrote: its rows and what a user should know (one sentence each)."""

    rows: int
    notes: list[str] = field(default_factory=list)


class ItemResults:
    """Per-item results of a prediction run, filled batch by batch (``NO_ENTRY``: nothing).

    Args:
        n_items: Items of the export.
        top_k: Suggestions kept per item.

    Attributes:
        label: Vocabulary entry of the item's label.
        label_node: Taxonomy node the label was decided at (before falling back to the vocabulary).
        probability: Probability of the label entry's node.
        uncertainty: The row uncertainty.
        needs_review: The review flag.
        suggestions: [n, k] vocabulary entries, best first.
        confidences: [n, k] integer confidences 0-100 of the suggestions.
        errors: Item index → why it could not be predicted (unreadable image, point outside it).
    """

    def __init__(self, n_items: int, top_k: int) -> None:
        self.label = np.full(n_items, NO_ENTRY, dtype=np.int64)
        self.label_node = np.full(n_items, NO_ENTRY, dtype=np.int64)
        self.probability = np.full(n_items, np.nan, dtype=np.float64)
        self.uncertainty = np.full(n_items, np.nan, dtype=np.float64)
        self.needs_review = np.zeros(n_items, dtype=bool)
        self.suggestions = np.full((n_items, top_k), NO_ENTRY, dtype=np.int64)
        self.confidences = np.zeros((n_items, top_k), dtype=np.int64)
        self.errors: dict[int, str] = {}

    def add(self, indices: Sequence[int], label: np.ndarray, label_node: np.ndarray, probability: np.ndarray,
            uncertainty: np.ndarray, needs_review: np.ndarray, suggestions: np.ndarray,
            confidences: np.ndarray) -> None:
        """Store one batch's results.

        Args:
            indices: The items of the batch.
            label: Label entry per item.
            label_node: Decided taxonomy node per item.
            probability: Probability of each label entry's node.
            uncertainty: Row uncertainty per item.
            needs_review: Review flag per item.
            suggestions: [b, k'] suggested entries (k' <= k; missing ones stay empty).
            confidences: [b, k'] their confidences 0-100.
        """
        rows = np.asarray(indices, dtype=np.int64)
        self.label[rows], self.label_node[rows], self.probability[rows] = label, label_node, probability
        self.uncertainty[rows], self.needs_review[rows] = uncertainty, needs_review
        k = min(self.suggestions.shape[1], suggestions.shape[1])
        self.suggestions[rows, :k], self.confidences[rows, :k] = suggestions[:, :k], confidences[:, :k]

    def fail(self, index: int, message: str) -> None:
        """Record why item ``index`` could not be predicted.

        Args:
            index: The item.
            message: The reason (names the file).
        """
        self.errors[int(index)] = message


class Export(ABC):
    """One annotation tool's import format (subclasses register in :data:`~seafloorhmc.prediction.exports.EXPORTS`).

    Args:
        source: The input file (the tool's own export of the points, shapes or images to label).
        options: The prediction request (root, label map or tree, separator, top-k).
        node_paths: Every taxonomy node's path, names from the root, in node order.

    Attributes:
        items: The distinct places to predict, in input order.
        entries: The vocabulary: one (key, taxon path) per label the tool can hold.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    input_format: ClassVar[str]
    #: option name → what the user passes for it (``check`` refuses a request without it)
    requires: ClassVar[Mapping[str, str]] = {}

    def __init__(self, source: str | Path, options: PredictOptions, node_paths: Sequence[Sequence[str]]) -> None:
        self.source = Path(source)
        self.options = options
        self.node_paths = [tuple(p) for p in node_paths]
        self.items: list[PredictionItem] = []
        self.entries: list[tuple[str, tuple[str, ...]]] = []

    @classmethod
    def check(cls, options: PredictOptions, fmt: str) -> None:
        """Refuse a request this export cannot serve, before any model is loaded.

        Args:
            options: The prediction request.
            fmt: The input format asked for (``auto`` or a format name).

        Raises:
            ValueError: If the input format is not the export's own or a required option is missing.
        """
        if fmt not in ("auto", cls.input_format):
            raise ValueError(f"--export {cls.name} reads {cls.input_format} input (drop --format {fmt})")
        for option, hint in cls.requires.items():
            if not getattr(options, option):
                raise ValueError(f"--export {cls.name} needs {hint}")

    @abstractmethod
    def read(self) -> None:
        """Read the input's rows into :attr:`items` and the export's own row records, and build :attr:`entries`."""

    @abstractmethod
    def write(self, path: Path, results: ItemResults) -> ExportSummary:
        """Write the tool's file to ``path`` (a fresh temporary file; the caller moves it into place).

        Args:
            path: Where to write.
            results: The per-item results.

        Returns:
            What was written.
        """

    def node_entries(self) -> np.ndarray:
        """Entry of each taxonomy node: its own, else its deepest ancestor's, else ``NO_ENTRY``.

        Returns:
            Long [N].
        """
        by_path = {path: i for i, (_, path) in enumerate(self.entries)}
        out = np.full(len(self.node_paths), NO_ENTRY, dtype=np.int64)
        for node, path in enumerate(self.node_paths):
            for depth in range(len(path), 0, -1):
                entry = by_path.get(path[:depth])
                if entry is not None:
                    out[node] = entry
                    break
        return out

    def entry_nodes(self) -> np.ndarray:
        """Taxonomy node of each entry (``NO_ENTRY`` for a label the model has no node for).

        Returns:
            Long [V].
        """
        node_of = {path: i for i, path in enumerate(self.node_paths)}
        return np.array([node_of.get(path, NO_ENTRY) for _, path in self.entries], dtype=np.int64)

    def display(self, path: Sequence[str]) -> str:
        """A taxon path as the input wrote paths (components joined by the request's separator).

        Args:
            path: Names from the root.

        Returns:
            The joined path.
        """
        return self.options.separator.join(path)

    @staticmethod
    def node_id(path: Sequence[str]) -> str:
        """The taxonomy's id of a path (``/``-joined), for messages.

        Args:
            path: Names from the root.

        Returns:
            The id.
        """
        return PATH_ID_SEP.join(path)


EXPORTS: Registry[type[Export]] = Registry("export format")


def write_csv_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write a UTF-8 CSV (LF line ends, minimal quoting) and return its number of data rows.

    Args:
        path: The file (created or replaced).
        header: Column names.
        rows: Data rows.

    Returns:
        Rows written.
    """
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(list(header))
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
            count += 1
    return count
