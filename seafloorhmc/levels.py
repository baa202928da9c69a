"""A tree taxonomy seen level by level: what level-wise methods (HCAL) classify among.

HCAL (Jiang et al. 2025, arXiv:2508.13452; code HaobingLiu/HCAL) gives every example exactly one
label per level, the labels forming one root-to-leaf path. Our taxonomies are unbalanced (a sponge
is a leaf at depth 1, a sand dollar at depth 4) and labels may stop early, so the levels are built
as follows.

* **Level k is depth d_k** of the taxonomy, coarse → fine (``Taxonomy.depth`` numbering; HCAL
  numbers fine → coarse). A single root carries no information and is not a level (it is always
  predicted); a forest's roots form the first level.
* **Slots.** Level k classifies among *slots*: one per node of depth d_k, plus one *stop slot* per
  leaf that ended higher up ("the path already ended at Sponges"). A stop slot at level k continues
  a slot of level k − 1, so the slots form a tree with every path reaching the finest level, one
  path per leaf. In a balanced tree there are no stop slots and the slots are the nodes (HCAL
  exactly).
* **Targets.** An example's path ends at its deepest positive node e. Levels down to depth(e) get
  the slot of e's ancestor there; deeper levels get e's stop slots when e is a leaf, and are
  *masked* (−1) when e is an inner node: a partial label ("an echinoderm, not sure which") or an
  inner-node label, which HCAL cannot express, so those levels leave the loss and the level metrics.
* An example with several deepest positive nodes has several paths: an error naming it
  (``data.single_path=true`` keeps only single-path samples).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .taxonomy import Taxonomy

__all__ = ["LevelsError", "TaxonomyLevels", "path_endpoints", "single_path_mask", "keep_single_path"]


class LevelsError(ValueError):
    """A taxonomy or label set a level-wise method cannot use; the message names the culprit."""


def path_endpoints(targets: torch.Tensor, taxonomy: Taxonomy) -> torch.Tensor:
    """The ends of label paths: positive nodes none of whose children is positive.

    Args:
        targets: Ancestor-closed targets [n, N] (positive where > 0.5).
        taxonomy: The hierarchy of the N nodes.

    Returns:
        Bool [n, N].
    """
    positive = torch.as_tensor(targets) > 0.5
    edges = taxonomy.edge_index().to(positive.device)
    if edges.shape[1] == 0:
        return positive
    parent, child = edges
    has_positive_child = torch.zeros(positive.shape, dtype=torch.float32, device=positive.device)
    has_positive_child.index_add_(1, parent, positive[:, child].float())
    return positive & (has_positive_child == 0)


def single_path_mask(targets, taxonomy: Taxonomy) -> np.ndarray:
    """Which rows a level-wise method can use: those whose positive nodes form one root-to-node path.

    Args:
        targets: Ancestor-closed targets [n, N], array-like.
        taxonomy: The hierarchy of the N nodes.

    Returns:
        Bool [n].
    """
    return (path_endpoints(torch.as_tensor(np.asarray(targets)), taxonomy).sum(1) <= 1).numpy()


def keep_single_path(samples: Sequence, taxonomy: Taxonomy) -> tuple[list, int]:
    """The samples whose labels lie on one path (each label an ancestor of the deepest).

    Args:
        samples: Objects with a ``labels`` tuple of node ids or paths.
        taxonomy: The hierarchy the labels name.

    Returns:
        (the kept samples, how many were dropped).
    """
    kept = []
    for sample in samples:
        nodes = {taxonomy.resolve(label) for label in sample.labels}
        deepest = max(nodes, key=lambda i: taxonomy.depth[i], default=None)
        if deepest is None or nodes <= set(taxonomy.ancestors(deepest).tolist()):
            kept.append(sample)
    return kept, len(samples) - len(kept)


class TaxonomyLevels:
    """Levels, slots and the maps between slots, nodes and label paths of a tree taxonomy.

    Shapes below use L levels, S_k slots at level k and S = Σ S_k.

    Args:
        taxonomy: A tree taxonomy with more than one node.

    Attributes:
        taxonomy: The taxonomy.
        depths: taxonomy depth of each level, coarse → fine.
        sizes: S_k; ``offsets[k]`` is where level k starts on the concatenated slot axis.
        slot_node: per level, long [S_k], the node each slot stands for.
        slot_parent: per level, long [S_k], the slot of level k − 1 it continues (−1 at level 0).
        slot_is_stop: per level, bool [S_k].
        node_slot: long [N], the node's own (non-stop) slot on the concatenated axis, −1 for a
            single root.
        endpoint_slots: long [N, L], the per-level slots of a label path ending at each node
            (−1: masked level).
        leaf_paths: long [P, L], every valid full slot path, one per leaf; path p ends in slot p
            of the finest level.
        num_slots: S.

    Raises:
        LevelsError: If the taxonomy is a DAG or has a single node.
    """

    def __init__(self, taxonomy: Taxonomy) -> None:
        if not taxonomy.is_tree:
            node = next(i for i, p in enumerate(taxonomy.parents) if len(p) > 1)
            parent_names = ", ".join(taxonomy.nodes[p] for p in taxonomy.parents[node])
            raise LevelsError(f"level-wise heads need a tree taxonomy, but node {taxonomy.nodes[node]!r} has "
                              f"several parents ({parent_names})")
        self.taxonomy = taxonomy
        depth = np.asarray(taxonomy.depth)
        first = 1 if len(taxonomy.roots) == 1 else 0
        self.depths = list(range(first, int(depth.max()) + 1))
        if not self.depths:
            raise LevelsError(f"taxonomy {taxonomy!r} has a single node: nothing to classify")
        n = len(taxonomy)
        is_leaf = np.array([not c for c in taxonomy.children])
        self.slot_node, self.slot_parent, self.slot_is_stop = [], [], []
        self.node_slot = torch.full((n,), -1, dtype=torch.long)
        # slot of (node, level) for nodes that have one at that level; built level by level
        slot_at: list[dict[int, int]] = []
        offset = 0
        self.offsets = []
        for k, d in enumerate(self.depths):
            real = [i for i in range(n) if depth[i] == d]
            stops = [] if k == 0 else [node for node, _ in sorted(slot_at[k - 1].items(), key=lambda kv: kv[1])
                                       if is_leaf[node]]
            nodes = real + stops
            index = {node: s for s, node in enumerate(nodes)}
            parents = []
            for s, node in enumerate(nodes):
                if k == 0:
                    parents.append(-1)
                elif s < len(real):
                    parents.append(slot_at[k - 1][taxonomy.parents[node][0]])
                else:
                    parents.append(slot_at[k - 1][node])
            slot_at.append(index)
            self.slot_node.append(torch.tensor(nodes, dtype=torch.long))
            self.slot_parent.append(torch.tensor(parents, dtype=torch.long))
            self.slot_is_stop.append(torch.arange(len(nodes)) >= len(real))
            self.node_slot[real] = torch.arange(offset, offset + len(real))
            self.offsets.append(offset)
            offset += len(nodes)
        self.sizes = [len(s) for s in self.slot_node]
        self.num_slots = offset
        self.endpoint_slots = torch.full((n, len(self.depths)), -1, dtype=torch.long)
        for node in range(n):
            ancestors = {int(depth[a]): int(a) for a in taxonomy.ancestors(node)}
            for k, d in enumerate(self.depths):
                if d in ancestors:
                    self.endpoint_slots[node, k] = slot_at[k][ancestors[d]]
                elif d > depth[node] and is_leaf[node]:
                    self.endpoint_slots[node, k] = slot_at[k][node]
        self.leaf_paths = self.endpoint_slots[self.slot_node[-1]]  # path p ends in finest slot p

    def __len__(self) -> int:
        return len(self.depths)

    def __repr__(self) -> str:
        return f"TaxonomyLevels(depths {self.depths}, slots {self.sizes})"

    # ------------------------------------------------------------------ slot axis
    def split(self, scores: torch.Tensor) -> list[torch.Tensor]:
        """Cut scores on the concatenated slot axis into one block per level.

        Args:
            scores: Tensor [..., S].

        Returns:
            One [..., S_k] view per level.

        Raises:
            ValueError: If the last axis is not S long.
        """
        if scores.shape[-1] != self.num_slots:
            raise ValueError(f"expected {self.num_slots} slot scores on the last axis, got shape {tuple(scores.shape)}")
        return list(torch.split(scores, self.sizes, dim=-1))

    def node_probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        """Node probabilities from slot logits, so node-wise metrics can score a level-wise head.

        Softmax within each level, each node read at its own depth; a single root is certain
        (probability 1).

        Args:
            scores: Slot logits [B, S].

        Returns:
            Node probabilities [B, N].
        """
        probs = torch.cat([torch.softmax(s, dim=-1) for s in self.split(scores)], dim=-1)
        out = torch.ones(scores.shape[0], len(self.taxonomy), dtype=probs.dtype, device=probs.device)
        has_slot = self.node_slot >= 0
        out[:, has_slot.to(out.device)] = probs[:, self.node_slot[has_slot].to(out.device)]
        return out

    # ------------------------------------------------------------------ labels
    def encode(self, targets: torch.Tensor, describe: Callable[[int], str] | None = None) -> torch.Tensor:
        """Per-level slot labels of ancestor-closed node targets.

        Args:
            targets: Ancestor-closed targets [B, N].
            describe: Names a row in errors (a file and line, say); "row i" by default.

        Returns:
            Slot labels long [B, L] (−1: masked level).

        Raises:
            ValueError: If targets are not [B, N].
            LevelsError: If a row has several label paths; the message names the row and its paths.
        """
        targets = torch.as_tensor(targets)
        if targets.dim() != 2 or targets.shape[1] != len(self.taxonomy):
            raise ValueError(f"targets must be [B, {len(self.taxonomy)}], got shape {tuple(targets.shape)}")
        ends = path_endpoints(targets, self.taxonomy)
        count = ends.sum(1)
        if bool((count > 1).any()):
            row = int(torch.nonzero(count > 1)[0, 0])
            paths = [self.taxonomy.nodes[i] for i in torch.nonzero(ends[row]).flatten().tolist()]
            name = describe(row) if describe is not None else f"row {row}"
            raise LevelsError(
                f"{name} has {len(paths)} label paths ({', '.join(repr(p) for p in paths)}); HCAL needs one "
                "label path per sample: set data.single_path=true to keep only single-path samples")
        endpoint = ends.float().argmax(1)
        slots = self.endpoint_slots.to(targets.device)[endpoint]
        return torch.where((count == 1)[:, None], slots, torch.full_like(slots, -1))

    # ------------------------------------------------------------------ decisions
    def multi_hot(self, slots: torch.Tensor) -> torch.Tensor:
        """The node sets that per-level slot choices stand for, so node-set metrics can score them.

        Args:
            slots: Per-level slot choices long [B, L]; −1 entries add nothing.

        Returns:
            Bool [B, N]: the nodes the chosen slots stand for, plus a single root.
        """
        out = torch.zeros(slots.shape[0], len(self.taxonomy), dtype=torch.bool, device=slots.device)
        if len(self.taxonomy.roots) == 1 and self.depths[0] == 1:
            out[:, self.taxonomy.roots[0]] = True
        for k, nodes in enumerate(self.slot_node):
            chosen = slots[:, k]
            valid = chosen >= 0
            rows = torch.nonzero(valid).flatten()
            out[rows, nodes.to(slots.device)[chosen[valid]]] = True
        return out

    def violations(self, slots: torch.Tensor) -> torch.Tensor:
        """Which examples' choices break the hierarchy (HCAL's per-example hierarchy violation).

        Args:
            slots: Per-level slot choices long [B, L].

        Returns:
            Bool [B]: some level's choice does not continue the previous level's choice.
        """
        broken = torch.zeros(slots.shape[0], dtype=torch.bool, device=slots.device)
        for k in range(1, len(self)):
            parent = self.slot_parent[k].to(slots.device)[slots[:, k]]
            broken |= parent != slots[:, k - 1]
        return broken

    def level_names(self) -> list[str]:
        """Names of the levels in per-level metrics: their taxonomy depths.

        Returns:
            One name per level, coarse → fine.
        """
        return [str(d) for d in self.depths]

