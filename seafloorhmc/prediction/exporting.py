"""Running an export: per batch, each item's single label and suggestions in the tool's vocabulary.

:func:`open_export` reads the input with the registered :class:`~seafloorhmc.prediction.exports.base.Export`;
:class:`ExportScorer` turns a batch of predictions into the few numbers per item the export writes:

* **label**: the single label of :class:`~seafloorhmc.prediction.single_label.SingleLabeller` (best
  valid path, stopped at its deepest node with ``p > threshold``), moved up to the deepest
  ancestor-or-self the tool has a label for; its probability is that entry's node's probability.
* **review flag**: the label's uncertainty is the largest node uncertainty over the label and its
  evaluated ancestors (the predictions it stands for, :mod:`~seafloorhmc.prediction.review`); it
  needs review when that exceeds the review threshold, or when there is no label.
* **suggestions**: vocabulary entries ranked by the chance that the item's deepest true label is
  written as them — the deepest-label scores ``s(i)`` of :mod:`~seafloorhmc.prediction.suggestions`
  summed over the nodes that fall back to the same entry (on one path these telescope, so the sum is
  the chance that the deepest label lies anywhere in that entry's share of the tree), as integers
  0-100. Entries with score 0 are not suggested.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..models.model import Prediction
from ..taxonomy import Taxonomy
from .exports import EXPORTS, Export, ItemResults
from .options import PredictOptions
from .single_label import SingleLabeller
from .suggestions import confidence_percent, deepest_label_scores, path_max

__all__ = ["open_export", "ExportScorer"]


def open_export(name: str, source: str | Path, options: PredictOptions, taxonomy: Taxonomy) -> Export:
    """The export ``name`` with its input read.

    Args:
        name: A registered export (``coralnet``, ``biigle``, ``squidle``).
        source: The input file.
        options: The prediction request.
        taxonomy: The model's taxonomy (its node paths match labels to the tool's vocabulary).

    Returns:
        The export, its items and vocabulary ready.

    Raises:
        RegistryError: If ``name`` is not a registered export.
    """
    export = EXPORTS.get(name)(source, options, [tuple(taxonomy.node_path(i)) for i in range(len(taxonomy))])
    export.read()
    return export


class ExportScorer:
    """Batch predictions → :class:`~seafloorhmc.prediction.exports.base.ItemResults` (module doc).

    Args:
        export: The export, its input read.
        taxonomy: The model's taxonomy (a tree).
        threshold: A node can be the label only when ``p > threshold``.
        top_k: Suggestions per item.
        review_threshold: A label needs review when its uncertainty exceeds this.
    """

    def __init__(self, export: Export, taxonomy: Taxonomy, threshold: float, top_k: int,
                 review_threshold: float) -> None:
        self.taxonomy = taxonomy
        self.review_threshold = float(review_threshold)
        self.labeller = SingleLabeller(taxonomy)
        self.threshold = float(threshold)
        self.top_k = int(top_k)
        self.node_entry = torch.as_tensor(export.node_entries(), dtype=torch.long)
        self.entry_node = torch.as_tensor(export.entry_nodes(), dtype=torch.long)
        self.vocabulary = len(export.entries)

    def results(self, n_items: int) -> ItemResults:
        """Empty results for ``n_items`` items.

        Args:
            n_items: Items of the export.

        Returns:
            Results with nothing filled in.
        """
        return ItemResults(n_items, self.top_k)

    def add(self, results: ItemResults, indices: Sequence[int], prediction: Prediction,
            node_uncertainty: torch.Tensor) -> None:
        """Score one batch into ``results``.

        Args:
            results: Where to store the batch.
            indices: The batch's items.
            prediction: The model's prediction for them.
            node_uncertainty: Node uncertainties [b, N].
        """
        probs = prediction.probs.float()
        device = probs.device
        node_entry, entry_node = self.node_entry.to(device), self.entry_node.to(device)
        label_node = self.labeller(probs, self.threshold, prediction.level_choices.get("consistent"))
        has_node = label_node >= 0
        entry = torch.where(has_node, node_entry[label_node.clamp_min(0)], torch.full_like(label_node, -1))
        has_entry = entry >= 0
        entry_probs = probs.gather(1, entry_node[entry.clamp_min(0)].clamp_min(0)[:, None]).squeeze(1)
        probability = torch.where(has_entry, entry_probs, torch.full_like(entry_probs, float("nan")))
        on_path = path_max(node_uncertainty.float(), self.taxonomy).gather(1, label_node.clamp_min(0)[:, None])
        uncertainty = torch.where(has_node, on_path.squeeze(1), torch.zeros_like(on_path.squeeze(1)))
        needs_review = ~has_node | (uncertainty > self.review_threshold)
        suggestions, confidences = self._suggest(probs, node_entry)
        results.add(indices, entry.cpu().numpy(), label_node.cpu().numpy(), probability.cpu().numpy(),
                    uncertainty.cpu().numpy(), needs_review.cpu().numpy(), suggestions, confidences)

    def _suggest(self, probs: torch.Tensor, node_entry: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Top-k entries by summed deepest-label scores, and their confidences 0-100 (−1 / 0: none)."""
        b = probs.shape[0]
        if self.vocabulary == 0:
            return np.full((b, self.top_k), -1, dtype=np.int64), np.zeros((b, self.top_k), dtype=np.int64)
        scores = deepest_label_scores(probs, self.taxonomy)
        mapped = node_entry >= 0
        totals = torch.zeros(b, self.vocabulary, dtype=scores.dtype, device=scores.device)
        totals.index_add_(1, node_entry[mapped], scores[:, mapped])
        k = min(self.top_k, self.vocabulary)
        values, order = torch.sort(totals, dim=1, descending=True, stable=True)
        values, order = values[:, :k], order[:, :k]
        confidences = confidence_percent(values)
        order = torch.where(values > 0, order, torch.full_like(order, -1))
        out_entries = np.full((b, self.top_k), -1, dtype=np.int64)
        out_conf = np.zeros((b, self.top_k), dtype=np.int64)
        out_entries[:, :k], out_conf[:, :k] = order.cpu().numpy(), confidences.cpu().numpy()
        return out_entries, out_conf
