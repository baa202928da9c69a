"""The max-constraint module (C-HMCNN): every node scores at least as high as any descendant.

``out[..., i] = max_{j in D(i)} x[..., j]`` where D(i) is i and its descendants. The reference
implementation broadcasts a B×N×N tensor; here the maximum is propagated up the hierarchy one
height level at a time (children before parents) on a node-major copy, so memory is O(B·(N+E)).

Gradients go to the input that attained each maximum, as ``torch.max`` does on the dense form. To
know that input without extra passes, each float32 value is packed with its node index into one
order-preserving 64-bit key (value bits high, index bits low): one max over keys yields the maximum
and its winner together. The keys carry an optional *tier* bit above the value, which lets MCLoss
take h (max over all descendants) and h⁺ (max over positive descendants only) in a single pass
(see :func:`winner_index`). float64 inputs take an exact path that tracks winners explicitly.

Because sigmoid is monotone the constraint commutes with it: apply it to logits or probabilities.
"""

from __future__ import annotations

import torch

from .taxonomy import Taxonomy

__all__ = ["max_constraint", "winner_index", "gather_winners", "ConstraintPlan", "plan_for"]

_INDEX_BITS = 28
_INDEX_MASK = (1 << _INDEX_BITS) - 1
_TIER_SHIFT = 60
# Every key is >= 2**52, so viewed as float64 it is a positive *normal* number whose order is the
# integer order (denormals could be flushed to zero by the CPU and would tie).
_BASE = 1 << 52
_SIGN_OFFSET = 1 << 31  # lifts the order-preserving int32 into [0, 2**32)


class ConstraintPlan:
    """The passes that propagate maxima up a taxonomy, cached per device.

    Normally one pass per height level over the edges (lowest parents first). When the hierarchy
    is shallow enough that all (ancestor, descendant) pairs number at most ``PAIR_FACTOR``·(N+E),
    a single pass over those pairs does the same job with fewer, larger operations while memory
    stays O(B·(N+E)).

    Args:
        taxonomy: The hierarchy the maxima propagate up.

    Raises:
        ValueError: If the taxonomy has more nodes than a packed key can index (2**28 - 1).
    """

    PAIR_FACTOR = 2

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.num_nodes = len(taxonomy)
        if self.num_nodes > _INDEX_MASK:
            raise ValueError(f"max_constraint supports at most {_INDEX_MASK} nodes, got {self.num_nodes}")
        self._levels = []
        budget = self.PAIR_FACTOR * (self.num_nodes + taxonomy.num_edges)
        pair_count = sum(len(taxonomy.descendants(i)) - 1 for i in range(self.num_nodes))
        if 0 < pair_count <= budget:
            ancestor = torch.cat([torch.full((len(taxonomy.descendants(i)) - 1,), i) for i in range(self.num_nodes)])
            descendant = torch.cat([torch.from_numpy(taxonomy.descendants(i)[taxonomy.descendants(i) != i])
                                    for i in range(self.num_nodes)])
            passes = [(ancestor, descendant)]
        else:
            passes = taxonomy.levels()
        for parent, child in passes:
            distinct, parent_pos = torch.unique(parent, return_inverse=True)
            self._levels.append((parent, child, distinct, parent_pos))
        offset = _BASE + (_SIGN_OFFSET << _INDEX_BITS) + torch.arange(self.num_nodes)
        self._key_offsets = torch.stack([offset, offset + (1 << _TIER_SHIFT)])  # tier 0, tier 1
        self._by_device: dict[torch.device, tuple] = {}

    def on(self, device: torch.device) -> tuple[list[tuple[torch.Tensor, ...]], torch.Tensor]:
        """The plan's tensors on ``device``, moved there once and cached.

        Args:
            device: Where the values to propagate live.

        Returns:
            (passes as (parent, child, distinct parents, parent position) tensors, per-node key
            offsets [2, N] for tier 0 and 1).
        """
        if device not in self._by_device:
            levels = [tuple(t.to(device) for t in level) for level in self._levels]
            self._by_device[device] = (levels, self._key_offsets.to(device))
        return self._by_device[device]


def plan_for(taxonomy: Taxonomy) -> ConstraintPlan:
    """The taxonomy's :class:`ConstraintPlan`, built on first use and cached on the taxonomy.

    Args:
        taxonomy: The hierarchy.

    Returns:
        Its plan.
    """
    plan = getattr(taxonomy, "_constraint_plan", None)
    if plan is None:
        plan = ConstraintPlan(taxonomy)
        taxonomy._constraint_plan = plan
    return plan


def _propagate(values: torch.Tensor, levels) -> torch.Tensor:
    """In place on node-major values [N, ...]: each parent takes the max of itself and its children."""
    flat = values.view(values.shape[0], -1)
    rows = flat.shape[1]
    for parent, child, _, _ in levels:
        flat.scatter_reduce_(0, parent.unsqueeze(1).expand(-1, rows), flat.index_select(0, child),
                             reduce="amax", include_self=True)
    return values


def _split_rows(x: torch.Tensor, tier: torch.Tensor | None) -> tuple[int, int, torch.Tensor | None]:
    """Rows of x [..., N] as P × Q with the tier varying over Q only (members share a tier)."""
    n = x.shape[-1]
    rows = x.numel() // n
    if tier is None:
        return 1, rows, None
    if x.dim() >= 2 and tier.shape == x.shape[1:]:
        return x.shape[0], rows // x.shape[0], tier.reshape(-1, n)
    return 1, rows, tier.expand(x.shape).reshape(-1, n)


def _keyed_winners(x: torch.Tensor, tier: torch.Tensor | None, plan: ConstraintPlan) -> torch.Tensor:
    """Winner indices for float32 x via packed keys; returns int64 [N, P·Q] node-major."""
    levels, offsets = plan.on(x.device)
    n = x.shape[-1]
    p, q, tier_rows = _split_rows(x, tier)
    bits = x.reshape(p, q, n).view(torch.int32)
    ordered = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # int32 whose order is the float order
    if tier_rows is None:
        offset = offsets[0].view(n, 1, 1)
    else:
        offset = torch.where(tier_rows.T, offsets[1].unsqueeze(1), offsets[0].unsqueeze(1)).unsqueeze(1)
    keys = torch.empty(n, p, q, dtype=torch.int64, device=x.device)
    torch.add(offset, ordered.permute(2, 0, 1), alpha=1 << _INDEX_BITS, out=keys)
    _propagate(keys.view(torch.float64), levels)
    return (keys & _INDEX_MASK).view(n, p * q)


def _tracked_winners(values: torch.Tensor, levels) -> torch.Tensor:
    """Winner index [N, R] for node-major values [N, R] (modified in place), any dtype."""
    n, rows = values.shape
    src = torch.arange(n, device=values.device).unsqueeze(1).expand(n, rows).contiguous()
    for parent, child, distinct, parent_pos in levels:
        child_vals = values.index_select(0, child)
        own = values.index_select(0, distinct)
        values.scatter_reduce_(0, parent.unsqueeze(1).expand(-1, rows), child_vals, reduce="amax", include_self=True)
        new = values.index_select(0, distinct)
        # A child whose value equals its parent's new maximum is a winner; ties keep the parent.
        winners = torch.where(child_vals == values.index_select(0, parent), src.index_select(0, child), n)
        best = torch.full((len(distinct), rows), n, dtype=src.dtype, device=values.device)
        best.scatter_reduce_(0, parent_pos.unsqueeze(1).expand(-1, rows), winners, reduce="amin", include_self=True)
        src.index_copy_(0, distinct, torch.where(own >= new, src.index_select(0, distinct), best))
    return src


def _exact_winners(x: torch.Tensor, tier: torch.Tensor | None, plan: ConstraintPlan) -> torch.Tensor:
    levels, _ = plan.on(x.device)
    flat = x.reshape(-1, x.shape[-1])
    winners = _tracked_winners(flat.T.contiguous(), levels)
    if tier is None:
        return winners
    t = tier.expand(x.shape).reshape(flat.shape)
    top = torch.where(t, flat, torch.full_like(flat, float("-inf")))
    return torch.where(t.T, _tracked_winners(top.T.contiguous(), levels), winners)


def winner_index(x: torch.Tensor, taxonomy: Taxonomy, tier: torch.Tensor | None = None) -> torch.Tensor:
    """Which descendant attains each node's max, so gradients and MCLoss's h⁺ need no extra pass.

    Args:
        x: Scores [..., N] (probabilities or logits).
        taxonomy: The hierarchy of the N nodes.
        tier: Bool, broadcastable to x; ranks every tier-1 value above every tier-0 value. With
            ``tier = targets > 0.5`` on ancestor-closed targets, a positive node's winner is its
            best positive descendant (MCLoss's h⁺, Giunchiglia & Lukasiewicz 2020) and a negative
            node's its best descendant (h).

    Returns:
        int64 [N, rows]: for each node and row of x, the index of the winning descendant.

    Raises:
        ValueError: If x's last dimension is not the number of nodes.
    """
    n = len(taxonomy)
    if x.shape[-1] != n:
        raise ValueError(f"max_constraint: last dimension {x.shape[-1]} != {n} taxonomy nodes")
    plan = plan_for(taxonomy)
    x = x.detach()
    tier = None if tier is None else tier.to(torch.bool)
    if x.dtype == torch.float64:
        return _exact_winners(x, tier, plan)
    return _keyed_winners(x.to(torch.float32).contiguous(), tier, plan)


class _GatherWinners(torch.autograd.Function):
    """out = x.gather(winner); each output's gradient flows back to its winner."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, winners: torch.Tensor):  # noqa: D401 - autograd API
        ctx.save_for_backward(winners)
        return x.gather(1, winners.T)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (winners,) = ctx.saved_tensors
        return torch.zeros_like(grad_out).scatter_add_(1, winners.T, grad_out), None


def gather_winners(x: torch.Tensor, winners: torch.Tensor) -> torch.Tensor:
    """Differentiable ``x[..., winner]``: each output's gradient flows back to its winner.

    Args:
        x: Scores [..., N].
        winners: int64 [N, rows] from :func:`winner_index` on x.

    Returns:
        Tensor shaped like x.
    """
    n = x.shape[-1]
    return _GatherWinners.apply(x.reshape(-1, n), winners).reshape(x.shape)


def max_constraint(x: torch.Tensor, taxonomy: Taxonomy) -> torch.Tensor:
    """``out[..., i] = max over i and its descendants of x[..., j]`` (C-HMCNN's MCM).

    Giunchiglia & Lukasiewicz 2020 (C-HMCNN). Works on probabilities or logits (``-inf``
    included), trees and DAGs, with gradients.

    Args:
        x: Scores [..., N].
        taxonomy: The hierarchy of the N nodes.

    Returns:
        Tensor shaped like x in which no node scores below a descendant.

    Raises:
        ValueError: If x's last dimension is not the number of nodes.
    """
    if x.shape[-1] != len(taxonomy):
        raise ValueError(f"max_constraint: last dimension {x.shape[-1]} != {len(taxonomy)} taxonomy nodes")
    if torch.is_grad_enabled() and x.requires_grad:
        return gather_winners(x, winner_index(x, taxonomy))
    values = x.reshape(-1, x.shape[-1]).T.contiguous()
    return _propagate(values, plan_for(taxonomy).on(x.device)[0]).T.reshape(x.shape)
