"""Metrics that look at predictions through the hierarchy: violation rates and Kiritchenko hP/hR/hF.

HVR (the hierarchy violation rate of HCAL, Jiang et al. 2025, arXiv:2508.13452, generalised here
to multi-label/DAG data) measures self-consistency only: an example violates when some predicted
node has a parent (any parent in a DAG) that is not predicted. Every edge of the taxonomy is
checked, whatever ``eval_mask`` says, and roots are parents like any other (predicted only if
their own p > threshold). Ground truth and ``known`` are not used: consistency of the prediction
does not depend on what was annotated.

hP/hR/hF (Kiritchenko et al. 2006; as in hiclass's ``metrics``), micro form pooled over examples.
Convention used here: the true set β is the example's positive evaluated nodes (targets are
ancestor-closed, so these are the labels plus their ancestors, roots excluded via ``eval_mask``);
the predicted set α is ŷ closed under ancestors in the true hierarchy, restricted to the
evaluated nodes. So an inconsistent prediction is repaired before scoring (the "strict
Kiritchenko" convention; HVR reports the inconsistency). With partial labels both sets are
restricted to known cells. 0/0 is scored 0 as for the macro metrics.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ..taxonomy import Taxonomy

__all__ = ["violation_rates", "ancestor_closure", "hierarchical_prf"]


def violation_rates(pred: np.ndarray, taxonomy: Taxonomy) -> tuple[float, float]:
    """How often predictions break the hierarchy (a predicted node without a predicted parent).

    Args:
        pred: Boolean predictions [n, N].
        taxonomy: The hierarchy of the N nodes.

    Returns:
        (example-level HVR, edge-level rate). The edge-level rate is the share of predicted
        positive non-root cells with at least one parent not predicted; 0 when nothing below a
        root is predicted.
    """
    edges = taxonomy.edge_index().numpy()
    if edges.shape[1] == 0:
        return 0.0, 0.0
    parent, child = edges
    broken = pred[:, child] & ~pred[:, parent]  # [n, E]
    hvr = float(broken.any(1).mean())
    # A cell (example, child) is orphaned when any of the child's edges is broken: OR the edge
    # columns grouped by child.
    order = np.argsort(child, kind="stable")
    by_child = child[order]
    starts = np.flatnonzero(np.r_[True, by_child[1:] != by_child[:-1]])
    orphan = np.logical_or.reduceat(broken[:, order], starts, axis=1)
    non_root = np.zeros(pred.shape[1], dtype=bool)
    non_root[child] = True
    predicted = pred[:, non_root].sum()
    return hvr, float(orphan.sum() / predicted) if predicted else 0.0


def ancestor_closure(pred: np.ndarray, taxonomy: Taxonomy) -> np.ndarray:
    """ŷ with every ancestor of a predicted node switched on (what the max-constraint does to ŷ).

    A sparse product ŷ · A, with A[j, i] = 1 when i is j or an ancestor of j: predictions are
    sparse, so this costs O(predicted cells × depth) rather than a pass over every level.

    Args:
        pred: Boolean predictions [n, N].
        taxonomy: The hierarchy of the N nodes.

    Returns:
        Bool [n, N], closed under ancestors.
    """
    lists = [taxonomy.descendants(i) for i in range(len(taxonomy))]
    rows = np.concatenate(lists)
    cols = np.repeat(np.arange(len(taxonomy)), [len(d) for d in lists])
    anc = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(taxonomy),) * 2)
    return (sparse.csr_matrix(pred, dtype=np.int32) @ anc).toarray() > 0


def hierarchical_prf(
    pred: np.ndarray, y: np.ndarray, cells: np.ndarray, taxonomy: Taxonomy
) -> tuple[float, float, float]:
    """Micro hP, hR, hF (see the module docstring for the convention).

    Args:
        pred: Boolean predictions [n, N] (closed under ancestors before scoring).
        y: Ancestor-closed boolean targets [n, N].
        cells: Bool [n, N], the evaluated known cells.
        taxonomy: The hierarchy of the N nodes.

    Returns:
        (hP, hR, hF), 0/0 scored 0.
    """
    alpha = ancestor_closure(pred, taxonomy) & cells
    beta = y & cells
    overlap = float((alpha & beta).sum())
    n_alpha, n_beta = float(alpha.sum()), float(beta.sum())
    hp = overlap / n_alpha if n_alpha else 0.0
    hr = overlap / n_beta if n_beta else 0.0
    hf = 2 * hp * hr / (hp + hr) if hp + hr else 0.0
    return hp, hr, hf
