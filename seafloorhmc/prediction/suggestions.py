"""What a reviewer sees for one prediction: deepest predicted taxa, ranked suggestions, one uncertainty.

All functions take hierarchy-consistent probabilities ``probs [B, N]`` (the member mean of
constrained probabilities, so ``p(child) <= p(parent)``) and work on whole batches at once.

Suggestions (CoralNet's "Machine suggestion 1..k"): a taxon is scored by the probability that it is
the *deepest* true label, ``s(i) = p(i) - max_{c in children(i)} p(c)`` (clamped at 0; leaves keep
``p(i)``). With consistent probabilities on a tree, the scores along one root-to-leaf path telescope,
``sum s = p(root) - ...`` ≤ 1, so on a single-label point they read as a distribution over "stop
here" choices. On a multi-label image the branches are scored independently, each still ≤ its own
probability. Ties are broken by node order (parents first), so the ranking is deterministic.

Row uncertainty: the uncertainty of what the row says — the largest node uncertainty over its
*predicted* taxa (evaluated nodes with p > threshold, or the set a per-level head decided). It is
what the review flag compares with its threshold, which is calibrated on the precision of
predicted taxa (:mod:`~seafloorhmc.prediction.review`), so a row is unflagged exactly when each of
its predicted taxa is. A row that predicts no evaluated taxon says "none of the top-level taxa is
here": its uncertainty is the largest over its *decision frontier*, the evaluated nodes whose
yes/no decision shapes the output — every predicted node plus every node all of whose evaluated
parents are predicted (here: the top evaluated level). A sure coarse prediction ("Echinoderms")
whose next level is a coin flip ("Sea urchins" at 0.45) is a correct, unflagged prediction; the
coin flip shows in the machine suggestions. Nodes outside ``taxonomy.eval_mask`` (by default the
roots, which every label contains) are ignored, as in the metrics; an empty frontier has uncertainty 0.
"""

from __future__ import annotations

import torch

from ..taxonomy import Taxonomy

__all__ = ["child_max", "deepest_label_scores", "top_k_suggestions", "deepest_predicted", "decision_frontier",
           "row_uncertainty", "confidence_percent", "path_max"]


def _edges(taxonomy: Taxonomy, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    parents, children = taxonomy.edge_index().to(device)
    return parents, children


def _check(probs: torch.Tensor, taxonomy: Taxonomy) -> None:
    if probs.ndim != 2 or probs.shape[1] != len(taxonomy):
        raise ValueError(f"expected probabilities [B, {len(taxonomy)}] for {taxonomy!r}, got {tuple(probs.shape)}")


def child_max(probs: torch.Tensor, taxonomy: Taxonomy) -> torch.Tensor:
    """The largest probability among each node's children (0 for leaves); O(B·(N+E)).

    Args:
        probs: Node probabilities [B, N].
        taxonomy: The hierarchy.

    Returns:
        [B, N] child maxima.

    Raises:
        ValueError: ``probs`` is not [B, N] for this taxonomy.
    """
    _check(probs, taxonomy)
    parents, children = _edges(taxonomy, probs.device)
    out = torch.zeros_like(probs)
    if parents.numel():
        out.scatter_reduce_(1, parents.expand(probs.shape[0], -1), probs[:, children], "amax", include_self=True)
    return out


def deepest_label_scores(probs: torch.Tensor, taxonomy: Taxonomy) -> torch.Tensor:
    """s(i) = max(p(i) - max over children of p(c), 0): the chance that i is the deepest label.

    Args:
        probs: Node probabilities [B, N] (hierarchy-consistent).
        taxonomy: The hierarchy.

    Returns:
        [B, N] scores.
    """
    return (probs - child_max(probs, taxonomy)).clamp_min_(0)


def confidence_percent(scores: torch.Tensor) -> torch.Tensor:
    """Scores in [0, 1] as the integer percentages annotation tools show.

    Args:
        scores: Scores (clamped to [0, 1]).

    Returns:
        int64 percentages 0-100 (round half to even, as ``torch.round``).
    """
    return torch.round(scores.clamp(0, 1) * 100).to(torch.int64)


def top_k_suggestions(probs: torch.Tensor, taxonomy: Taxonomy, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """The k most likely deepest labels per row, for annotation tools' machine suggestions.

    Args:
        probs: Node probabilities [B, N].
        taxonomy: The hierarchy.
        k: Suggestions per row (at most N are returned).

    Returns:
        (node indices long [B, min(k, N)], scores [B, min(k, N)]), best first, ties by node order.

    Raises:
        ValueError: ``k`` is not an integer >= 1.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"top-k needs k >= 1, got {k!r}")
    scores = deepest_label_scores(probs, taxonomy)
    ordered, order = torch.sort(scores, dim=1, descending=True, stable=True)
    k = min(int(k), scores.shape[1])
    return order[:, :k], ordered[:, :k]


def _predicted(probs: torch.Tensor, threshold: float, predicted: torch.Tensor | None) -> torch.Tensor:
    """The predicted node set: ``predicted`` where a head decided it (per-level heads), else p > threshold."""
    if predicted is None:
        return probs > threshold
    if predicted.shape != probs.shape:
        raise ValueError(f"predicted {tuple(predicted.shape)} and probabilities {tuple(probs.shape)} must have "
                         "the same shape")
    return predicted.bool()


def deepest_predicted(probs: torch.Tensor, taxonomy: Taxonomy, threshold: float = 0.5,
                      predicted: torch.Tensor | None = None) -> torch.Tensor:
    """Bool [B, N]: predicted nodes with no predicted child; row-wise ``Taxonomy.decode``.

    Args:
        probs: Node probabilities [B, N].
        taxonomy: The hierarchy.
        threshold: A node is predicted when its probability exceeds it.
        predicted: Bool [B, N] node sets decided by the head; replaces thresholding.

    Returns:
        Bool [B, N].
    """
    on = _predicted(probs, threshold, predicted)
    return on & ~(child_max(on.to(probs.dtype), taxonomy) > 0)


def decision_frontier(probs: torch.Tensor, taxonomy: Taxonomy, threshold: float = 0.5,
                      predicted: torch.Tensor | None = None) -> torch.Tensor:
    """Evaluated nodes that are predicted or whose evaluated parents all are (module doc).

    Args:
        probs: Node probabilities [B, N].
        taxonomy: The hierarchy (its ``eval_mask`` says which nodes are evaluated).
        threshold: A node is predicted when its probability exceeds it.
        predicted: Bool [B, N] node sets decided by the head; replaces thresholding.

    Returns:
        Bool [B, N].
    """
    _check(probs, taxonomy)
    evaluated = taxonomy.eval_mask.to(probs.device)
    predicted = _predicted(probs, threshold, predicted)
    open_ = predicted | ~evaluated  # a parent outside the evaluated set never blocks its children
    parents, children = _edges(taxonomy, probs.device)
    blocked = torch.zeros(probs.shape, dtype=torch.int32, device=probs.device)
    if parents.numel():
        blocked.index_add_(1, children, (~open_[:, parents]).to(torch.int32))
    return evaluated & (predicted | (blocked == 0))


def row_uncertainty(probs: torch.Tensor, node_uncertainty: torch.Tensor, taxonomy: Taxonomy,
                    threshold: float = 0.5, predicted: torch.Tensor | None = None) -> torch.Tensor:
    """[B]: the largest node uncertainty over each row's predicted evaluated taxa (none: over its frontier).

    Args:
        probs: Constrained node probabilities [B, N].
        node_uncertainty: Node uncertainties [B, N].
        taxonomy: The label hierarchy.
        threshold: A node is predicted when ``p > threshold``.
        predicted: Bool [B, N], the node sets a head decided itself (replaces the threshold).

    Returns:
        The row uncertainty (module doc).

    Raises:
        ValueError: If ``node_uncertainty`` and ``probs`` differ in shape.
    """
    if node_uncertainty.shape != probs.shape:
        raise ValueError(f"node uncertainty {tuple(node_uncertainty.shape)} and probabilities "
                         f"{tuple(probs.shape)} must have the same shape")
    said = _predicted(probs, threshold, predicted) & taxonomy.eval_mask.to(probs.device)
    frontier = decision_frontier(probs, taxonomy, threshold, predicted)
    cells = torch.where(said.any(1, keepdim=True), said, frontier)
    return torch.where(cells, node_uncertainty, torch.zeros_like(node_uncertainty)).amax(1)


def path_max(values: torch.Tensor, taxonomy: Taxonomy, evaluated_only: bool = True) -> torch.Tensor:
    """[B, N]: the largest value over each node and its ancestors; O(B·(N + E·depth)).

    Used to ask whether anything a written taxon stands for (it and its ancestors) needs review.

    Args:
        values: [B, N] node values (uncertainties).
        taxonomy: The label hierarchy.
        evaluated_only: Count only nodes in ``taxonomy.eval_mask`` (the others contribute 0).

    Returns:
        The path maxima.
    """
    _check(values, taxonomy)
    out = values.clone()
    if evaluated_only:
        out = torch.where(taxonomy.eval_mask.to(values.device), out, torch.zeros_like(out))
    parents, children = _edges(taxonomy, values.device)
    depth = torch.as_tensor(taxonomy.depth, device=values.device)
    for d in range(1, int(depth.max()) + 1 if len(taxonomy) else 0):  # parents are final before their children
        at = depth[children] == d
        if bool(at.any()):
            kids = children[at].expand(values.shape[0], -1)
            out.scatter_reduce_(1, kids, out[:, parents[at]], "amax", include_self=True)
    return out
