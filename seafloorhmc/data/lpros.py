"""LPROS: label-path random oversampling, the resampling baseline of the rare-node paper (spec §7).

The hierarchical analogue of ML-ROS (Charte et al.): count the label *annotations* per node
(each listed term of each row counts once, then the counts are propagated to every ancestor),
find the minority label paths (imbalance ratio ``IRLbP = max count / own count`` above its mean,
``HMeanIR``) and, walking the hierarchy bottom-up one depth level at a time, clone training rows
for each minority node until it reaches ``meanSize`` annotations, at most ``maxIncrease`` clones per
node. A clone repeats one row that carries the node's term (or, failing that, a descendant's),
drawn with replacement, but keeps **only that single term** (its ancestors follow from the
hierarchy): the clone loses its other labels, as in the released code.

Numbers: ``S = floor(share · c(root))`` with ``share = 0.1``; ``meanSize = ceil(c(root) / #non-zero
non-root nodes)``; ``maxIncrease = ceil(S / #minority paths)``. After each level the minority set
is recomputed from the updated counts against the *original* HMeanIR.

Count updates after cloning (``update``): the released code adds a clone's count to its term and
the term's **direct parent only** (its ``update_counts`` lists the keys to propagate before the
parent keys exist), so grandparents keep their pre-cloning counts and may stay minority paths.
``update="parent"`` (default) reproduces that, and with it the published cellcycle_FUN numbers
(1628 → 2120 rows, +492 clones; the full propagation gives +556); ``update="ancestors"`` adds the
clone to every ancestor, as the method description reads.

On trees a node and its root-to-node path are the same thing. On DAGs (GO) the released code
counts every root-to-term path separately (and did not finish on GO in 20 CPU-minutes); here a
"label path" is the node itself and an annotation counts once at each of its ancestors — a
documented deviation that keeps the work linear in the number of (node, ancestor) pairs.

The same function serves feature tables (ARFF rows) and image datasets: it returns clone
*instructions* ``(source row, node)``; the caller appends the row's features (or repeats the
image) with the reduced label set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..taxonomy import Taxonomy
from ..utils.derived_seeds import derive_seed

__all__ = ["LprosPlan", "lpros_plan", "annotation_indices", "lpros_for_config", "clone_samples", "clone_targets",
           "DEFAULT_SHARE", "COUNT_UPDATES"]

DEFAULT_SHARE = 0.1  # S = 0.1 is hard-coded in the released code
COUNT_UPDATES = ("parent", "ancestors")


@dataclass
class LprosPlan:
    """What LPROS adds: ``clones[k] = (source row, node index)``; ``info`` reports the budget."""

    clones: list[tuple[int, int]] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def rows(self) -> np.ndarray:
        """int64 [clones]: the source row each clone repeats."""
        return np.array([r for r, _ in self.clones], dtype=np.int64)

    @property
    def nodes(self) -> np.ndarray:
        """int64 [clones]: the single node index each clone keeps."""
        return np.array([n for _, n in self.clones], dtype=np.int64)


def annotation_indices(label_lists: Sequence[Sequence[str]], taxonomy: Taxonomy,
                       where: str = "training data") -> list[list[int]]:
    """Label ids per row → node indices per row (a label missing from the taxonomy is named).

    Args:
        label_lists: The label ids (or paths) each row is annotated with.
        taxonomy: The hierarchy that resolves them.
        where: What the rows are, for the error message.

    Returns:
        Per row, its distinct node indices in first-seen order.

    Raises:
        ValueError: A label is not in the taxonomy (names ``where`` and the row).
    """
    out = []
    for row, labels in enumerate(label_lists):
        indices = []
        for label in labels:
            try:
                indices.append(taxonomy.index[label] if label in taxonomy.index else taxonomy.resolve(label))
            except ValueError as err:
                raise ValueError(f"LPROS: {where}, row {row}: {err}") from None
        out.append(list(dict.fromkeys(indices)))
    return out


def _ancestor_lists(taxonomy: Taxonomy) -> list[np.ndarray]:
    return [taxonomy.ancestors(i) for i in range(len(taxonomy))]


def _minority(counts: np.ndarray, candidates: np.ndarray, hmean_ir: float | None) -> tuple[set[int], float]:
    """Minority nodes among ``candidates`` (non-root, non-zero) and the HMeanIR used."""
    live = candidates[counts[candidates] > 0]
    ir = counts[live].max() / counts[live]
    if hmean_ir is None:
        hmean_ir = float(ir.mean())
    return {int(n) for n in live[ir > hmean_ir]}, hmean_ir


def lpros_plan(annotations: Sequence[Sequence[int]], taxonomy: Taxonomy, seed: int,
               share: float = DEFAULT_SHARE, update: str = "parent") -> LprosPlan:
    """The clones LPROS adds to rows whose annotated node indices are ``annotations``.

    Args:
        annotations: ``annotations[r]`` lists the node indices row ``r`` was annotated with (not
            closed under ancestors).
        taxonomy: The hierarchy the indices refer to.
        seed: Seeds the draw of source rows (the plan is a function of it only).
        share: Budget share ``S`` of the root's annotation count, in (0, 1].
        update: How clone counts propagate: ``"parent"`` (released code) or ``"ancestors"``; see the
            module docstring.

    Returns:
        The clones to add and an ``info`` dict with the budget numbers.

    Raises:
        ValueError: ``share`` or ``update`` is invalid, or a row names a node outside the taxonomy.
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"LPROS budget share must lie in (0, 1], got {share}")
    if update not in COUNT_UPDATES:
        raise ValueError(f"LPROS count update must be one of {', '.join(COUNT_UPDATES)}, got {update!r}")
    n_nodes = len(taxonomy)
    direct = np.zeros(n_nodes, dtype=np.int64)
    rows_with: list[list[int]] = [[] for _ in range(n_nodes)]
    for row, terms in enumerate(annotations):
        for term in terms:
            if not 0 <= term < n_nodes:
                raise ValueError(f"LPROS: row {row} names node index {term}, outside the {n_nodes}-node taxonomy")
            direct[term] += 1
            rows_with[term].append(row)
    ancestors = _ancestor_lists(taxonomy)
    counts = np.zeros(n_nodes, dtype=np.int64)
    for nonzero in np.flatnonzero(direct):
        counts[ancestors[nonzero]] += direct[nonzero]
    total = int(direct.sum())
    roots = set(taxonomy.roots)
    candidates = np.array([i for i in range(n_nodes) if i not in roots and counts[i] > 0], dtype=np.int64)
    info = {"method": "lpros", "share": share, "rows": len(annotations), "annotations": total,
            "nonzero_nodes": int(len(candidates)), "seed": int(seed), "update": update}
    if len(candidates) == 0:
        return LprosPlan([], {**info, "hmean_ir": None, "minority_paths": 0, "budget": 0, "mean_size": 0,
                              "max_increase": 0, "clones": 0})
    minority, hmean_ir = _minority(counts, candidates, None)
    budget = math.floor(share * total)
    mean_size = math.ceil(total / len(candidates))
    max_increase = math.ceil(budget / len(minority)) if minority else 0
    info.update({"hmean_ir": hmean_ir, "minority_paths": len(minority), "budget": budget,
                 "mean_size": mean_size, "max_increase": max_increase})
    depth = np.asarray(taxonomy.depth)
    rng = np.random.default_rng(seed)
    clones: list[tuple[int, int]] = []
    cloned_nodes = 0
    for level in range(int(depth[candidates].max()), 0, -1):
        for node in candidates[depth[candidates] == level]:
            node = int(node)
            if node not in minority:
                continue
            k = min(max_increase, mean_size - int(counts[node]))
            if k <= 0:
                continue
            sources = rows_with[node]
            if not sources:  # no row names the term itself: rows annotated below it
                sources = sorted({r for d in taxonomy.descendants(node) for r in rows_with[int(d)]})
            drawn = rng.choice(np.asarray(sources, dtype=np.int64), size=k, replace=True)
            clones.extend((int(r), node) for r in drawn)
            counts[ancestors[node] if update == "ancestors" else [node, *taxonomy.parents[node]]] += k
            cloned_nodes += 1
        minority, _ = _minority(counts, candidates, hmean_ir)
    info.update({"clones": len(clones), "cloned_nodes": cloned_nodes})
    return LprosPlan(clones, info)


def lpros_for_config(data_config, label_lists: Sequence[Sequence[str]], taxonomy: Taxonomy, run_seed: int,
                     where: str = "training split") -> LprosPlan | None:
    """The LPROS plan ``data.resample=lpros`` asks for; its seed derives from the run seed.

    Args:
        data_config: The ``data`` section (``resample``, ``lpros_share``, ``lpros_update``).
        label_lists: The label ids of each training row.
        taxonomy: The hierarchy.
        run_seed: The run's seed, from which the LPROS seed is derived.
        where: What the rows are, for error messages.

    Returns:
        The plan, or None when the config does not ask for LPROS.
    """
    d = data_config
    if d.resample != "lpros":
        return None
    annotations = annotation_indices(label_lists, taxonomy, where)
    return lpros_plan(annotations, taxonomy, seed=derive_seed(int(run_seed), "lpros"), share=d.lpros_share,
                      update=d.lpros_update)


def clone_samples(samples: Sequence, plan: LprosPlan, taxonomy: Taxonomy) -> list:
    """Image samples for the clones: the source image (or patch) labelled with the single term.

    The term keeps the source's ``complete`` flag when the source names it; a clone drawn from a
    row annotated below the term is partial (``complete=False``), so the descendants it really
    shows are masked rather than taught as negatives.

    Args:
        samples: The training samples the plan's row indices refer to.
        plan: The LPROS plan.
        taxonomy: The hierarchy the plan's node indices refer to.

    Returns:
        One new sample per clone, in plan order.
    """
    out = []
    for row, node in plan.clones:
        source = samples[row]
        term = taxonomy.nodes[node]
        flags = dict(zip((_index_of(label, taxonomy) for label in source.labels), source.complete))
        out.append(replace(source, labels=(term,), complete=(bool(flags.get(node, False)),),
                           where=f"{source.where or source.image} (LPROS clone)"))
    return out


def clone_targets(plan: LprosPlan, taxonomy: Taxonomy) -> np.ndarray:
    """Target rows for the clones of a feature table.

    Args:
        plan: The LPROS plan.
        taxonomy: The hierarchy the plan's node indices refer to.

    Returns:
        float32 [clones, N]: each clone's single term and its ancestors set to 1.
    """
    targets = np.zeros((len(plan.clones), len(taxonomy)), dtype=np.float32)
    for k, (_, node) in enumerate(plan.clones):
        targets[k, taxonomy.ancestors(node)] = 1.0
    return targets


def _index_of(label: str, taxonomy: Taxonomy) -> int:
    return taxonomy.index[label] if label in taxonomy.index else taxonomy.resolve(label)
