"""One label per point: the best valid path through the taxonomy, stopped where the model stops being sure.

Annotation tools hold one label per point (CoralNet, SQUIDLE+) or per shape (BIIGLE), so a
multi-label node set must become a single taxon. The label is chosen in two steps:

1. **The best valid path** (consistent decoding, :func:`seafloorhmc.decoding.decode_consistent`):
   the root-to-leaf path with the highest sum over levels of the log-softmax slot scores. Heads
   that score levels themselves (the prototype head) give their own ``consistent`` slot choices.
   For the max-constraint heads the slot scores are the log node probabilities, ``log p(node)``
   (a stop slot — a leaf that ended above this level — scores ``log p(leaf)``), so each level's
   softmax is the node probabilities renormalised over that level and the path maximises the
   product of those shares. Because it is one path, two half-likely siblings never both end up
   in a point's label.
2. **Stopped at the deepest node that clears the threshold**: the path is followed down while its
   nodes have ``p > threshold`` (for max-constraint heads ``p(child) <= p(parent)``, so these nodes
   are exactly the ones above the threshold); the last is the label. Nothing clears it: no label
   (−1). A single root —
   not a level, since every label has it — is the label when nothing below it clears the threshold
   but it does.

Trees only (annotation tools' label trees are trees); a taxonomy with several parents per node is
refused with the node named.
"""

from __future__ import annotations

import torch

from ..decoding import decode_consistent
from ..levels import TaxonomyLevels
from ..taxonomy import Taxonomy

__all__ = ["slot_log_scores", "best_path_slots", "single_labels", "SingleLabeller"]

LOG_FLOOR = 1e-12  # probabilities are clamped here before the log, so a zero cannot make a path -inf


def slot_log_scores(probs: torch.Tensor, levels: TaxonomyLevels) -> torch.Tensor:
    """[B, S]: ``log p`` of the node each slot stands for (a stop slot: the leaf that ended).

    Args:
        probs: Constrained node probabilities [B, N].
        levels: The taxonomy's levels.

    Returns:
        Slot scores on the concatenated slot axis, ready for :func:`decode_consistent`.
    """
    logp = probs.float().clamp_min(LOG_FLOOR).log()
    nodes = torch.cat(levels.slot_node).to(probs.device)
    return logp[:, nodes]


def best_path_slots(probs: torch.Tensor, levels: TaxonomyLevels,
                    consistent_choices: torch.Tensor | None = None) -> torch.Tensor:
    """Slot of every level on the best valid path, long [B, L].

    Args:
        probs: Constrained node probabilities [B, N].
        levels: The taxonomy's levels.
        consistent_choices: The head's own consistent decoding [B, L] (prototype head), if any.

    Returns:
        Per-level slot indices (within each level) of one valid root-to-leaf path per row.
    """
    if consistent_choices is not None:
        return consistent_choices.long()
    return decode_consistent(slot_log_scores(probs, levels), levels)


class SingleLabeller:
    """:func:`single_labels` for one taxonomy, with its levels built once (module doc).

    Args:
        taxonomy: A tree taxonomy.

    Raises:
        ValueError: If the taxonomy is not a tree (a node has several parents).
    """

    def __init__(self, taxonomy: Taxonomy) -> None:
        try:
            self.levels = TaxonomyLevels(taxonomy)
        except ValueError as err:
            raise ValueError(f"one label per point needs a tree taxonomy: {err}") from None
        self.taxonomy = taxonomy
        self._root = taxonomy.roots[0] if len(taxonomy.roots) == 1 and self.levels.depths[0] == 1 else None

    def __call__(self, probs: torch.Tensor, threshold: float = 0.5,
                 consistent_choices: torch.Tensor | None = None) -> torch.Tensor:
        """Node index of each row's label, long [B] (−1: nothing clears the threshold).

        Args:
            probs: Constrained node probabilities [B, N].
            threshold: A node can be the label only when ``p > threshold``.
            consistent_choices: The head's own consistent decoding [B, L] (prototype head), if any.

        Returns:
            The label node per row.
        """
        slots = best_path_slots(probs, self.levels, consistent_choices)
        nodes = torch.stack([self.levels.slot_node[k].to(probs.device)[slots[:, k]]
                             for k in range(len(self.levels))], dim=1)  # [B, L]; stop slots repeat the leaf
        on = torch.gather(probs, 1, nodes) > threshold
        count = on.long().cumprod(1).sum(1)  # the path's nodes down to the first that does not clear it
        label = torch.gather(nodes, 1, (count - 1).clamp_min(0)[:, None]).squeeze(1)
        none = torch.full_like(label, -1)
        if self._root is not None:
            root_on = probs[:, self._root] > threshold
            none = torch.where(root_on, torch.full_like(label, self._root), none)
        return torch.where(count > 0, label, none)


def single_labels(probs: torch.Tensor, taxonomy: Taxonomy, threshold: float = 0.5,
                  consistent_choices: torch.Tensor | None = None) -> torch.Tensor:
    """Node index of each row's single label, long [B] (−1: none); see the module doc.

    Args:
        probs: Constrained node probabilities [B, N].
        taxonomy: A tree taxonomy.
        threshold: A node can be the label only when ``p > threshold``.
        consistent_choices: The head's own consistent decoding [B, L] (prototype head), if any.

    Returns:
        The label node per row.

    Raises:
        ValueError: If the taxonomy is not a tree.
    """
    return SingleLabeller(taxonomy)(probs, threshold, consistent_choices)
