"""MCLoss (C-HMCNN), computed from logits.

With h = MCM(z) and h⁺ = MCM over the *positive* descendants only, the loss of node i is
BCE(ỹ_i, y_i) with ỹ_i = h⁺_i where y_i = 1 and h_i where y_i = 0. Labels are ancestor-closed, so
every descendant of a negative node is negative and ỹ is one max over descendants in which positive
descendants outrank negative ones: a single tiered max-constraint pass. The constraint commutes with
the sigmoid, so it runs on logits.

BCE is taken as −log σ(s·ỹ) with s = 2y − 1 (ATen's BCE-with-logits goes through log1p, which is
unvectorised and several times slower on CPU). In float32 this equals the exact softplus(−s·ỹ) to
round-off (relative error < 1e-6) for −87.3 < s·ỹ < 16.6; past either end it departs as follows
(``tests/losses/test_mcloss.py`` checks each against a float64 reference):

* confidently right, s·ỹ > ln 2²⁴ ≈ 16.6: σ rounds to 1, so the loss and its gradient are exactly 0
  (the true values are below 6e-8);
* confidently wrong, s·ỹ < ln 1e-38 ≈ −87.5: σ(s·ỹ) is clamped at 1e-38, so the loss stops growing at
  −ln 1e-38 = 87.50 (the true loss is ``|ỹ|``). The training path (:func:`weighted_mcloss_sum`, which
  differentiates in closed form) keeps the true gradient ±w there; :func:`mcloss_elements`
  (``reduction="none"``) is differentiated by autograd through the clamp, so its gradient is 0.

This is not PyTorch's ``binary_cross_entropy`` on σ(ỹ), which clamps log at −100: there σ(ỹ)
rounds to 1 already at ỹ ≈ 16.6, so a negative target's loss jumps from 16.6 to 100 and its
gradient vanishes.
"""

from __future__ import annotations

import torch

from ..constraint import gather_winners, winner_index
from ..taxonomy import Taxonomy

__all__ = ["mcloss_logits", "mcloss_elements", "weighted_mcloss_sum"]

_TINY = 1e-38


def mcloss_logits(logits: torch.Tensor, targets: torch.Tensor, taxonomy: Taxonomy) -> torch.Tensor:
    """MCLoss's ỹ as logits: h⁺ (max over positive descendants) on positives, h elsewhere.

    Args:
        logits: Scores [..., N].
        targets: Ancestor-closed targets [..., N], broadcast against ``logits``.
        taxonomy: The hierarchy of the N nodes.

    Returns:
        ỹ, shaped like ``logits``, with gradients to the winning descendants.
    """
    return gather_winners(logits, winner_index(logits, taxonomy, targets > 0.5))


def _signed_sigmoid(z: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(σ((2y − 1)·z), 2y − 1): the probability the model gives the true label."""
    sign = (2 * targets - 1).to(z.dtype)
    return torch.sigmoid(z * sign), sign


def mcloss_elements(logits: torch.Tensor, targets: torch.Tensor, taxonomy: Taxonomy) -> torch.Tensor:
    """Element-wise MCLoss (Giunchiglia & Lukasiewicz 2020), for reductions and weights of one's own.

    Args:
        logits: Scores [..., N].
        targets: Ancestor-closed targets [..., N], broadcast against ``logits``.
        taxonomy: The hierarchy of the N nodes.

    Returns:
        The loss of each element, same shape as ``logits`` (no masking, no reduction).
    """
    prob_true, _ = _signed_sigmoid(mcloss_logits(logits, targets, taxonomy), targets)
    return -torch.log(prob_true.clamp_min(_TINY))


class _WeightedMCLossSum(torch.autograd.Function):
    """Σ_{h,b,i} w[b,i] · BCE(ỹ[h,b,i], y[b,i]) in one node, with its closed-form gradient.

    d/dỹ BCE = σ(ỹ) − y = (σ(s·ỹ) − 1)·s with s = 2y − 1; it is routed back to each winner.
    """

    @staticmethod
    def forward(ctx, logits, winners, targets, weights):  # noqa: D401 - autograd API
        n = logits.shape[-1]
        flat = logits.reshape(-1, n)
        chosen = flat.gather(1, winners.T).view(logits.shape)
        prob_true, sign = _signed_sigmoid(chosen, targets)
        ctx.save_for_backward(winners, prob_true, sign * weights)
        ctx.shape = logits.shape
        return torch.log(prob_true.clamp_min(_TINY)).mul_(weights).sum().neg()

    @staticmethod
    def backward(ctx, grad):
        winners, prob_true, signed_weights = ctx.saved_tensors
        grad_chosen = (prob_true - 1).mul_(signed_weights * grad)
        n = ctx.shape[-1]
        grad_flat = grad_chosen.reshape(-1, n)
        out = torch.zeros_like(grad_flat).scatter_add_(1, winners.T, grad_flat)
        return out.view(ctx.shape), None, None, None


def weighted_mcloss_sum(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, taxonomy: Taxonomy,
    positive: torch.Tensor | None = None,
) -> torch.Tensor:
    """Σ over members, examples and nodes of ``weights`` × element-wise MCLoss.

    The fast path of :class:`~seafloorhmc.losses.RareNodeLoss`: one autograd node with a
    closed-form gradient instead of the element-wise graph.

    Args:
        logits: Member logits [M, B, N] (or [B, N]).
        targets: Ancestor-closed targets [B, N], shared by the members.
        weights: Cell weights [B, N], shared by the members (detached).
        taxonomy: The hierarchy of the N nodes.
        positive: ``targets > 0.5``, when the caller has it already.

    Returns:
        The scalar weighted sum.
    """
    winners = winner_index(logits, taxonomy, targets > 0.5 if positive is None else positive)
    return _WeightedMCLossSum.apply(logits, winners, targets.to(logits.dtype), weights.to(logits.dtype).detach())
