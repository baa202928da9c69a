"""The label hierarchy: nodes in a canonical topological order, with encode/decode of labels.

Everything downstream (constraint, losses, metrics, checkpoints) indexes nodes by their position in
``Taxonomy.nodes``. The order is canonical, ``(depth, id)`` with depth the longest path from a root,
so the same hierarchy read from differently ordered files gets the same order and fingerprint, and
every parent comes before each of its children, in trees and DAGs alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from .labels import PATH_ID_SEP, TaxonomyError, check_path_ids, label_table_paths, read_label_table, split_path

__all__ = ["Taxonomy", "TaxonomyError", "PATH_ID_SEP", "split_path", "TaxonomyChange", "taxonomy_change",
           "describe_taxonomy_change"]


class Taxonomy:
    """A tree or DAG of taxa.

    Build it with :meth:`from_paths`, :meth:`from_edges` or :meth:`from_table`.

    Args:
        nodes: Node ids, in any order (they are sorted canonically).
        edges: (parent id, child id) pairs.
        names: Display name per node id; a node without one is shown by its id.
        exclude_from_eval: Node ids that losses and metrics skip; ``None`` skips the roots.
        path_sep: The separator of the label paths the taxonomy was built from, if any; it lets
            :meth:`resolve` read labels written that way.

    Attributes:
        nodes: node ids, parents before children.
        index: node id → its position in ``nodes``.
        names: display name of each node (last path component for path-built taxonomies).
        parents: for each node, the indices of its parents.
        children: for each node, the indices of its children.
        depth: longest path length from a root (roots have depth 0).
        roots: indices of the nodes without parents.
        leaves: indices of the nodes without children.
        eval_mask: bool [N]; nodes scored by losses and metrics (all but the roots by default).
        external_ids: only on taxonomies read from a label table (:meth:`from_table`,
            :meth:`from_csv`): table id → node id.

    Raises:
        TaxonomyError: On no nodes, an empty or duplicate id, an edge naming an unknown node,
            a cycle, or ``exclude_from_eval`` naming an unknown node.
    """

    external_ids: dict[str, str]
    _constraint_plan: Any  # cached by seafloorhmc.constraint.plan_for

    def __init__(
        self,
        nodes: Sequence[str],
        edges: Iterable[tuple[str, str]],
        names: Mapping[str, str] | None = None,
        exclude_from_eval: Iterable[str] | None = None,
        path_sep: str | None = None,
    ) -> None:
        nodes = list(nodes)
        if not nodes:
            raise TaxonomyError("a taxonomy needs at least one node")
        seen: set[str] = set()
        for node in nodes:
            if not isinstance(node, str) or not node:
                raise TaxonomyError(f"node ids must be non-empty strings, got {node!r}")
            if node in seen:
                raise TaxonomyError(f"duplicate node id {node!r}")
            seen.add(node)
        edge_set: set[tuple[str, str]] = set()
        for parent, child in edges:
            for end in (parent, child):
                if end not in seen:
                    raise TaxonomyError(f"edge ({parent!r}, {child!r}) names unknown node {end!r}")
            if parent == child:
                raise TaxonomyError(f"cycle in taxonomy: node {parent!r} is its own parent")
            edge_set.add((parent, child))

        order = _canonical_order(nodes, edge_set)
        self.nodes: list[str] = order
        self.index: dict[str, int] = {node: i for i, node in enumerate(order)}
        n = len(order)
        self.parents: list[list[int]] = [[] for _ in range(n)]
        self.children: list[list[int]] = [[] for _ in range(n)]
        for parent, child in sorted(edge_set, key=lambda e: (self.index[e[0]], self.index[e[1]])):
            self.parents[self.index[child]].append(self.index[parent])
            self.children[self.index[parent]].append(self.index[child])
        names = dict(names or {})
        self.names: list[str] = [names.get(node, node) for node in order]
        self.path_sep = path_sep
        depth = [0] * n
        for i in range(n):
            if self.parents[i]:
                depth[i] = 1 + max(depth[p] for p in self.parents[i])
        self.depth: list[int] = depth
        self.roots: list[int] = [i for i in range(n) if not self.parents[i]]
        self.leaves: list[int] = [i for i in range(n) if not self.children[i]]
        excluded = set(self.roots) if exclude_from_eval is None else set()
        for node in exclude_from_eval or ():
            if node not in self.index:
                raise TaxonomyError(f"exclude_from_eval names unknown node {node!r}")
            excluded.add(self.index[node])
        self.eval_mask = torch.ones(n, dtype=torch.bool)
        self.eval_mask[sorted(excluded)] = False
        self._descendants: list[np.ndarray] | None = None
        self._name_index: dict[str, list[int]] | None = None
        self._levels: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_paths(
        cls,
        paths: Iterable[str | Sequence[str]],
        sep: str = PATH_ID_SEP,
        exclude_from_eval: Iterable[str] | None = None,
    ) -> Taxonomy:
        """Every prefix of every path becomes a node; ids are the components joined with "/".

        Args:
            paths: Strings split on ``sep`` (e.g. ``"Biota > Echinoderms"`` with ``sep=" > "``)
                or sequences of components.
            sep: The separator inside string paths.
            exclude_from_eval: Node ids that losses and metrics skip; ``None`` skips the roots.

        Returns:
            The taxonomy, with each node named by its last path component.

        Raises:
            TaxonomyError: If a path has an empty component or a name contains "/".
        """
        nodes: dict[str, str] = {}
        edges: set[tuple[str, str]] = set()
        for row, path in enumerate(paths):
            parts = split_path(path, sep, where=f"path #{row}")
            prefix: list[str] = []
            for part in parts:
                parent = PATH_ID_SEP.join(prefix) if prefix else None
                prefix.append(part)
                node = PATH_ID_SEP.join(prefix)
                if node not in nodes:
                    nodes[node] = part
                if parent is not None:
                    edges.add((parent, node))
        check_path_ids(nodes)
        return cls(list(nodes), edges, names=nodes, exclude_from_eval=exclude_from_eval, path_sep=sep)

    @classmethod
    def from_edges(
        cls,
        edges: Iterable[tuple[str, str]],
        nodes: Iterable[str] | None = None,
        names: Mapping[str, str] | None = None,
        exclude_from_eval: Iterable[str] | None = None,
    ) -> Taxonomy:
        """A DAG from (parent, child) pairs; ids are kept exactly as given.

        Args:
            edges: (parent id, child id) pairs.
            nodes: Further node ids, e.g. isolated roots; nodes named by edges need not be listed.
            names: Display name per node id.
            exclude_from_eval: Node ids that losses and metrics skip; ``None`` skips the roots.

        Returns:
            The taxonomy.
        """
        edges = [(str(p), str(c)) for p, c in edges]
        all_nodes = list(dict.fromkeys([*(nodes or []), *(x for e in edges for x in e)]))
        return cls(all_nodes, edges, names=names, exclude_from_eval=exclude_from_eval)

    @classmethod
    def from_table(
        cls,
        rows: Iterable[Mapping[str, object]],
        id_key: str = "id",
        name_key: str = "name",
        parent_key: str = "parent_id",
        exclude_from_eval: Iterable[str] | None = None,
    ) -> Taxonomy:
        """A tree from ``id,name,parent_id`` rows (BIIGLE ``labels.csv``).

        Node ids are the name paths joined with "/" (so they match BIIGLE's ``label_hierarchy``
        strings read with :meth:`from_paths`).

        Args:
            rows: The table rows.
            id_key: Column of the label id.
            name_key: Column of the label name.
            parent_key: Column of the parent's id (empty or ``null`` for roots).
            exclude_from_eval: Node ids that losses and metrics skip; ``None`` skips the roots.

        Returns:
            The taxonomy, whose ``external_ids`` maps each table id to its node.
        """
        path_of = label_table_paths(rows, id_key, name_key, parent_key)
        tax = cls.from_paths(list(path_of.values()), sep=PATH_ID_SEP, exclude_from_eval=exclude_from_eval)
        tax.external_ids = {label_id: PATH_ID_SEP.join(p) for label_id, p in path_of.items()}
        return tax

    @classmethod
    def from_csv(cls, path: str | Path, **kwargs) -> Taxonomy:
        """Read a label-tree table (BIIGLE ``labels.csv``: ``id,name,parent_id,...``).

        Args:
            path: The CSV file.
            **kwargs: ``exclude_from_eval`` (as in :meth:`from_paths`) and ``id_key``, ``name_key``,
                ``parent_key`` if the columns are named differently.

        Returns:
            The taxonomy, whose ``external_ids`` maps each table id to its node.
        """
        exclude = kwargs.pop("exclude_from_eval", None)
        path_of = read_label_table(path, **kwargs)
        tax = cls.from_paths(list(path_of.values()), sep=PATH_ID_SEP, exclude_from_eval=exclude)
        tax.external_ids = {label_id: PATH_ID_SEP.join(p) for label_id, p in path_of.items()}
        return tax

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """Plain-data form, stored in checkpoints; :meth:`from_dict` rebuilds an equal taxonomy.

        Returns:
            JSON-serialisable ``nodes``, ``names``, ``edges``, ``exclude_from_eval`` and ``path_sep``.
        """
        return {
            "nodes": list(self.nodes),
            "names": list(self.names),
            "edges": [[self.nodes[p], self.nodes[c]] for c in range(len(self)) for p in self.parents[c]],
            "exclude_from_eval": [self.nodes[i] for i in range(len(self)) if not self.eval_mask[i]],
            "path_sep": self.path_sep,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Taxonomy:
        """Rebuild a taxonomy stored with :meth:`to_dict` (e.g. in a checkpoint).

        Args:
            data: The output of :meth:`to_dict`.

        Returns:
            A taxonomy equal to the one stored.
        """
        return cls(
            data["nodes"],
            [tuple(e) for e in data["edges"]],
            names=dict(zip(data["nodes"], data["names"])),
            exclude_from_eval=data["exclude_from_eval"],
            path_sep=data.get("path_sep"),
        )

    def fingerprint(self) -> str:
        """Stable hash of the ordered node ids, the edges and the evaluated nodes.

        Checkpoints and feature caches store it to refuse data labelled with another hierarchy;
        display names are left out so renaming a taxon keeps the fingerprint.

        Returns:
            16 hex digits.
        """
        data = self.to_dict()
        data.pop("names")
        data.pop("path_sep")
        blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    # ------------------------------------------------------------------ structure
    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return (f"Taxonomy({len(self)} nodes, {self.num_edges} edges, {len(self.roots)} roots, "
                f"depth {self.max_depth}, {'tree' if self.is_tree else 'DAG'})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Taxonomy) and self.to_dict() == other.to_dict()

    # Defining __eq__ leaves __hash__ None (unhashable: mutable-looking container semantics);
    # compare fingerprints instead.

    @property
    def num_edges(self) -> int:
        """Number of (parent, child) edges."""
        return sum(len(p) for p in self.parents)

    @property
    def max_depth(self) -> int:
        """Depth of the deepest node (0 when every node is a root)."""
        return max(self.depth)

    @property
    def is_tree(self) -> bool:
        """True when no node has more than one parent."""
        return all(len(p) <= 1 for p in self.parents)

    def edge_index(self) -> torch.Tensor:
        """The edges as one tensor, the form graph code expects.

        Returns:
            Long [2, E]: row 0 parents, row 1 children.
        """
        pairs = [(p, c) for c in range(len(self)) for p in self.parents[c]]
        if not pairs:
            return torch.zeros(2, 0, dtype=torch.long)
        return torch.tensor(pairs, dtype=torch.long).T.contiguous()

    def descendants(self, node: int | str) -> np.ndarray:
        """Indices of ``node`` and all its descendants, sorted.

        Args:
            node: A node index or id.

        Returns:
            int64 indices (cached; do not modify).

        Raises:
            TaxonomyError: If ``node`` is an unknown id.
        """
        return self._descendant_lists()[self._as_index(node)]

    def ancestors(self, node: int | str) -> np.ndarray:
        """Indices of ``node`` and all its ancestors, sorted.

        Args:
            node: A node index or id.

        Returns:
            int64 indices.

        Raises:
            TaxonomyError: If ``node`` is an unknown id.
        """
        start = self._as_index(node)
        seen, stack = {start}, [start]
        while stack:
            for parent in self.parents[stack.pop()]:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return np.array(sorted(seen), dtype=np.int64)

    def descendant_matrix(self, sparse: bool = False) -> torch.Tensor:
        """Bool [N, N] with R[i, j] true iff j is i or a descendant of i.

        This is the matrix the C-HMCNN max-constraint (Giunchiglia & Lukasiewicz 2020) is
        defined with.

        Args:
            sparse: Return a coalesced sparse COO tensor whose size grows with the number of
                (ancestor, descendant) pairs rather than N²; dense by default (the public contract).

        Returns:
            The bool [N, N] matrix.
        """
        lists = self._descendant_lists()
        rows = np.concatenate([np.full(len(d), i, dtype=np.int64) for i, d in enumerate(lists)])
        cols = np.concatenate(lists)
        n = len(self)
        if sparse:
            idx = torch.from_numpy(np.stack([rows, cols]))
            return torch.sparse_coo_tensor(idx, torch.ones(len(rows), dtype=torch.bool), (n, n),
                                           check_invariants=True).coalesce()
        dense = torch.zeros(n, n, dtype=torch.bool)
        dense[torch.from_numpy(rows), torch.from_numpy(cols)] = True
        return dense

    def levels(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Edges grouped by the height of their parent, lowest first.

        Height = longest path down to a leaf. Processing the groups in order visits every child's
        subtree before its parent, which is what the max-constraint needs.

        Returns:
            One (parent index, child index) pair of long tensors per group (cached).
        """
        if self._levels is None:
            n = len(self)
            height = [0] * n
            for i in reversed(range(n)):
                if self.children[i]:
                    height[i] = 1 + max(height[c] for c in self.children[i])
            groups: dict[int, list[tuple[int, int]]] = {}
            for c in range(n):
                for p in self.parents[c]:
                    groups.setdefault(height[p], []).append((p, c))
            self._levels = [
                (torch.tensor([p for p, _ in groups[h]]), torch.tensor([c for _, c in groups[h]]))
                for h in sorted(groups)
            ]
        return self._levels

    def node_path(self, node: int | str) -> list[str]:
        """Names from a root down to ``node`` (through the first parent in a DAG).

        Args:
            node: A node index or id.

        Returns:
            Display names, root first.

        Raises:
            TaxonomyError: If ``node`` is an unknown id.
        """
        i = self._as_index(node)
        path = [self.names[i]]
        while self.parents[i]:
            i = self.parents[i][0]
            path.append(self.names[i])
        return path[::-1]

    # ------------------------------------------------------------------ labels
    def resolve(self, label: str) -> int:
        """Index of a label given as a node id, a path in this taxonomy's separator, or a unique name.

        Args:
            label: A node id, a path (in this taxonomy's separator, ``" > "`` or "/"), or a
                display name that only one node has.

        Returns:
            The node's index.

        Raises:
            TaxonomyError: If the label names no node, or a name several nodes share.
        """
        if label in self.index:
            return self.index[label]
        text = str(label).strip()
        for sep in dict.fromkeys([self.path_sep, " > ", PATH_ID_SEP]):
            if sep and sep in text:
                node_id = PATH_ID_SEP.join(p.strip() for p in text.split(sep))
                if node_id in self.index:
                    return self.index[node_id]
        if text in self.index:
            return self.index[text]
        matches = self._names().get(text, [])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            options = ", ".join(repr(self.nodes[m]) for m in matches)
            raise TaxonomyError(f"label {label!r} is ambiguous: it names {options}")
        raise TaxonomyError(f"unknown label {label!r}: not a node of this taxonomy ({self!r})")

    def encode(
        self, labels: Iterable[str | int], complete: bool | Sequence[bool] = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets for one example, with the nodes an incomplete label leaves unknown.

        Args:
            labels: The example's labels: node indices or anything :meth:`resolve` reads.
            complete: Whether each label is complete (one flag for all, or one per label). A label
                on an inner node with ``complete=False`` (the default: the annotator stopped above
                leaf level) makes that node's strict descendants unknown, unless another label
                marks them positive.

        Returns:
            ``(target float [N], known bool [N])``; ``target`` is 1 on every labelled node and
            its ancestors.

        Raises:
            TaxonomyError: If the flags do not match the labels, a label is unknown, or an index
                is out of range.
        """
        labels = list(labels)
        flags = [complete] * len(labels) if isinstance(complete, bool) else list(complete)
        if len(flags) != len(labels):
            raise TaxonomyError(f"encode: {len(labels)} labels but {len(flags)} complete flags")
        n = len(self)
        target = np.zeros(n, dtype=bool)
        unknown = np.zeros(n, dtype=bool)
        for label, is_complete in zip(labels, flags):
            i = int(label) if isinstance(label, (int, np.integer)) else self.resolve(label)
            if not 0 <= i < n:
                raise TaxonomyError(f"label index {i} out of range for {n} nodes")
            target[self.ancestors(i)] = True
            if not is_complete and self.children[i]:
                unknown[self.descendants(i)] = True
                unknown[i] = False
        known = ~unknown | target
        return torch.from_numpy(target.astype(np.float32)), torch.from_numpy(known)

    def encode_batch(
        self, label_lists: Sequence[Iterable[str | int]], complete: Sequence | bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack :meth:`encode` over examples.

        Args:
            label_lists: The labels of each example.
            complete: One flag for all, or per example a flag or a per-label sequence.

        Returns:
            ``(target float [n, N], known bool [n, N])``.
        """
        flags = [complete] * len(label_lists) if isinstance(complete, bool) else list(complete)
        pairs = [self.encode(labels, flag) for labels, flag in zip(label_lists, flags)]
        if not pairs:
            return torch.zeros(0, len(self)), torch.zeros(0, len(self), dtype=torch.bool)
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])

    def decode(self, prediction: torch.Tensor | np.ndarray, threshold: float = 0.5) -> list[str]:
        """Deepest predicted nodes of one prediction vector [N] (probabilities > ``threshold``).

        A node is returned when it is predicted and none of its children is.

        Args:
            prediction: Scores of one example, one per node.
            threshold: A node is predicted when its score exceeds this.

        Returns:
            The ids of the deepest predicted nodes (for path-built taxonomies, the paths).

        Raises:
            TaxonomyError: If ``prediction`` is not a vector of N values.
        """
        pred = np.asarray(prediction.detach().cpu() if isinstance(prediction, torch.Tensor) else prediction)
        if pred.shape != (len(self),):
            raise TaxonomyError(f"decode expects a vector of {len(self)} values, got shape {pred.shape}")
        on = pred > threshold
        return [self.nodes[i] for i in np.flatnonzero(on) if not any(on[c] for c in self.children[i])]

    # ------------------------------------------------------------------ helpers
    def _as_index(self, node: int | str) -> int:
        if isinstance(node, (int, np.integer)):
            return int(node)
        if node not in self.index:
            raise TaxonomyError(f"unknown node {node!r}")
        return self.index[node]

    def _names(self) -> dict[str, list[int]]:
        if self._name_index is None:
            self._name_index = {}
            for i, name in enumerate(self.names):
                self._name_index.setdefault(name, []).append(i)
        return self._name_index

    def _descendant_lists(self) -> list[np.ndarray]:
        if self._descendants is None:
            lists: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(self)
            for i in reversed(range(len(self))):
                parts = [np.array([i], dtype=np.int64)] + [lists[c] for c in self.children[i]]
                lists[i] = np.unique(np.concatenate(parts))
            self._descendants = lists
        return self._descendants


class TaxonomyChange(NamedTuple):
    """How a taxonomy differs from another: node ids added and removed, nodes moved (old id, new id).

    A node is *moved* when it keeps its name under another parent: in path-built taxonomies its id
    changes (it shows up as removed + added, so those are paired by name), elsewhere its parents do.
    Nodes under an added, removed or moved node are not listed again.
    """

    added: list[str]
    removed: list[str]
    moved: list[tuple[str, str]]
    evaluated: list[str]  # nodes scored in one taxonomy but not the other

    @property
    def empty(self) -> bool:
        """Whether nothing differs."""
        return not (self.added or self.removed or self.moved or self.evaluated)


def taxonomy_change(old: Taxonomy, new: Taxonomy) -> TaxonomyChange:
    """What changed from ``old`` to ``new``.

    Args:
        old: The taxonomy a model was trained on.
        new: The taxonomy of the data at hand.

    Returns:
        The nodes added, removed and moved, and those whose evaluation differs.
    """
    old_ids, new_ids = set(old.nodes), set(new.nodes)
    removed = [n for n in old.nodes if n not in new_ids]
    added = [n for n in new.nodes if n not in old_ids]
    names_removed: dict[str, list[str]] = {}
    names_added: dict[str, list[str]] = {}
    for node in removed:
        names_removed.setdefault(old.names[old.index[node]], []).append(node)
    for node in added:
        names_added.setdefault(new.names[new.index[node]], []).append(node)
    moved = [(names_removed[name][0], names_added[name][0]) for name in names_removed
             if len(names_removed[name]) == 1 and len(names_added.get(name, ())) == 1]
    moved_old, moved_new = {a for a, _ in moved}, {b for _, b in moved}
    for node in old.nodes:  # same id, other parents (taxonomies whose ids are not paths)
        if node in new_ids:
            before = {old.nodes[p] for p in old.parents[old.index[node]]}
            after = {new.nodes[p] for p in new.parents[new.index[node]]}
            if before != after:
                moved.append((node, node))
    removed = [n for n in removed if n not in moved_old]
    added = [n for n in added if n not in moved_new]

    def tops(nodes: list[str], taxonomy: Taxonomy, covered: set[str]) -> list[str]:
        listed = set(nodes) | covered
        return [n for n in nodes if not any(taxonomy.nodes[p] in listed for p in taxonomy.parents[taxonomy.index[n]])]

    moved_tops = [(a, b) for a, b in moved
                  if not any(old.nodes[p] in moved_old for p in old.parents[old.index[a]])
                  or not any(new.nodes[p] in moved_new for p in new.parents[new.index[b]])]
    common = old_ids & new_ids
    evaluated = [n for n in old.nodes if n in common
                 and bool(old.eval_mask[old.index[n]]) != bool(new.eval_mask[new.index[n]])]
    return TaxonomyChange(tops(added, new, moved_new), tops(removed, old, moved_old), moved_tops, evaluated)


def describe_taxonomy_change(old: Taxonomy, new: Taxonomy, sep: str = " > ", limit: int = 8) -> str:
    """The change from ``old`` to ``new`` in one line, node paths written with the user's separator.

    Args:
        old: The taxonomy a model was trained on.
        new: The taxonomy of the data at hand.
        sep: The separator to write paths with (``data.separator``).
        limit: Nodes named per kind of change.

    Returns:
        e.g. ``1 node added: Biota > Worms; 1 moved: Biota > Fishes → Biota > Vertebrates > Fishes``.
    """
    change = taxonomy_change(old, new)

    def path(taxonomy: Taxonomy, node: str) -> str:
        return sep.join(taxonomy.node_path(node))

    def listing(items: list[str]) -> str:
        shown = ", ".join(items[:limit])
        return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")

    parts = []
    if change.added:
        parts.append(f"{len(change.added)} node{'s' if len(change.added) > 1 else ''} added: "
                     + listing([path(new, n) for n in change.added]))
    if change.removed:
        parts.append(f"{len(change.removed)} removed: " + listing([path(old, n) for n in change.removed]))
    if change.moved:
        parts.append(f"{len(change.moved)} moved: "
                     + listing([f"{path(old, a)} → {path(new, b)}" for a, b in change.moved]))
    if change.evaluated:
        parts.append(f"{len(change.evaluated)} scored differently: "
                     + listing([path(old, n) for n in change.evaluated]))
    if not parts:
        parts.append("same nodes and edges; the node order differs")
    return "; ".join(parts)


def _canonical_order(nodes: Sequence[str], edges: set[tuple[str, str]]) -> list[str]:
    """Sort by (longest distance from a root, id); a cycle raises naming its nodes."""
    children: dict[str, list[str]] = {n: [] for n in nodes}
    indegree = {n: 0 for n in nodes}
    for parent, child in edges:
        children[parent].append(child)
        indegree[child] += 1
    depth = {n: 0 for n in nodes}
    frontier = [n for n in nodes if indegree[n] == 0]
    visited = 0
    while frontier:
        node = frontier.pop()
        visited += 1
        for child in children[node]:
            depth[child] = max(depth[child], depth[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                frontier.append(child)
    if visited != len(nodes):
        raise TaxonomyError("cycle in taxonomy: " + " -> ".join(_find_cycle(edges, indegree)))
    return sorted(nodes, key=lambda n: (depth[n], n))


def _find_cycle(edges: set[tuple[str, str]], indegree: Mapping[str, int]) -> list[str]:
    """One cycle among the nodes Kahn's algorithm could not order.

    Every such node has a parent that could not be ordered either, so walking up parents from any
    of them must revisit a node: that loop is a cycle.
    """
    stuck = {n for n, d in indegree.items() if d > 0}
    parents: dict[str, list[str]] = {}
    for parent, child in edges:
        if parent in stuck and child in stuck:
            parents.setdefault(child, []).append(parent)
    path: list[str] = []
    pos: dict[str, int] = {}
    node = min(stuck)
    while node not in pos:
        pos[node] = len(path)
        path.append(node)
        node = min(parents[node])
    cycle = path[pos[node]:] + [node]
    return cycle[::-1]
