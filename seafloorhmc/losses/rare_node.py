"""The rare-node loss: MCLoss × node weights × focal factor from ensemble uncertainty.

For member h, example b and node i (evaluated and known):

    loss[h, b, i] = a[b, i] · φ[b, i] · BCE(ỹ⁽ʰ⁾[b, i], y[b, i])

* ``a`` selects a node weight by the target value. ``weight_target="positive"`` puts the rarity
  weights ``w_pos`` on positive targets and ``w_neg`` on negatives (the paper's description);
  ``"negative"`` swaps them, which is what the released code does (Xu et al. 2026,
  DalhousieAI/Hierarchical_Multi-Label_Imb_Focal_Weighted_Loss, ``process_weights``).
* ``φ = focal_min + u^k`` with u the per-node uncertainty across members, detached.
* A weight schedule moves both weight vectors toward ω over an epoch or a run; ``mixed_lambda``
  blends λ·weighted + (1 − λ)·plain MCLoss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import torch
from torch import nn

from ..choices import Reduction, UncertaintySource, WeightTarget
from ..config import Config
from ..constraint import max_constraint
from ..taxonomy import Taxonomy
from ..uncertainty import node_uncertainty
from .factory import LOSSES
from .focal import focal_factor
from .mcloss import mcloss_elements, weighted_mcloss_sum
from .node_weights import node_weights
from .schedules import WeightSchedule

__all__ = ["RareNodeLoss", "WEIGHT_TARGETS", "REDUCTIONS"]

WEIGHT_TARGETS: tuple[str, ...] = get_args(WeightTarget)
REDUCTIONS: tuple[str, ...] = (*get_args(Reduction), "none")
UNCERTAINTY_SOURCES: tuple[str, ...] = get_args(UncertaintySource)


class RareNodeLoss(nn.Module):
    """Loss over member logits [M, B, N] (a single member may be given as [B, N]).

    Args:
        taxonomy: The label hierarchy; its ``eval_mask`` selects the nodes that count.
        weights: (w_pos, w_neg) [N] from :func:`~seafloorhmc.losses.node_weights.node_weights`;
            None for no node weights.
        weight_target: ``"positive"`` (w_pos on positive targets) or ``"negative"`` (swapped, as
            the released code does).
        uncertainty: Uncertainty mode of the focal factor (see :mod:`seafloorhmc.uncertainty`);
            None or ``"none"`` for no focal factor.
        focal_k: Exponent k of the focal factor.
        focal_min: Floor of the focal factor.
        reduction: ``"mean"`` divides by M × the number of (example, node) cells that count;
            ``"sum"`` is the released focal script's plain sum; ``"none"`` returns [M, B, N] with
            zeros where masked.
        schedule: Moves the weights toward ω during training; none by default.
        omega: The ω the schedule moves toward.
        mixed_lambda: Blend λ·weighted + (1 − λ)·plain MCLoss; None for weighted only.
        uncertainty_source: ``"raw"`` (uncertainty of the member logits) or ``"constrained"``
            (after the max-constraint).

    Attributes:
        w_pos: Rarity weights on the targets ``weight_target`` names (None without weights).
        w_neg: Weights on the other targets (None without weights).

    Raises:
        ValueError: On an unknown choice, ``mixed_lambda`` outside [0, 1], or weights of the
            wrong shape.
    """

    eval_mask: torch.Tensor
    w_pos: torch.Tensor | None
    w_neg: torch.Tensor | None

    def __init__(
        self,
        taxonomy: Taxonomy,
        weights: tuple[torch.Tensor, torch.Tensor] | None = None,
        weight_target: str = "positive",
        uncertainty: str | None = None,
        focal_k: float = 1.0,
        focal_min: float = 0.25,
        reduction: str = "mean",
        schedule: WeightSchedule | None = None,
        omega: float = 0.25,
        mixed_lambda: float | None = None,
        uncertainty_source: str = "raw",
    ) -> None:
        super().__init__()
        if weight_target not in WEIGHT_TARGETS:
            raise ValueError(f"weight_target must be one of {WEIGHT_TARGETS}, got {weight_target!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if uncertainty_source not in UNCERTAINTY_SOURCES:
            raise ValueError(f"uncertainty_source must be one of {UNCERTAINTY_SOURCES}, got {uncertainty_source!r}")
        if mixed_lambda is not None and not 0.0 <= mixed_lambda <= 1.0:
            raise ValueError(f"mixed_lambda must lie in [0, 1], got {mixed_lambda}")
        if uncertainty in ("none", ""):
            uncertainty = None
        if uncertainty is not None:
            node_uncertainty(torch.full((1, 1, 1), 0.5), uncertainty)  # validates the mode name
        self.taxonomy = taxonomy
        self.weight_target = weight_target
        self.uncertainty = uncertainty
        self.focal_k = float(focal_k)
        self.focal_min = float(focal_min)
        self.reduction = reduction
        self.schedule = schedule or WeightSchedule()
        self.omega = float(omega)
        self.mixed_lambda = mixed_lambda
        self.uncertainty_source = uncertainty_source
        self._progress = 0.0
        self.register_buffer("eval_mask", taxonomy.eval_mask.clone(), persistent=False)
        self._eval_count = int(taxonomy.eval_mask.sum())
        if weights is None:
            self.w_pos = self.w_neg = None
        else:
            w_pos, w_neg = (torch.as_tensor(w, dtype=torch.float32) for w in weights)
            for name, w in (("w_pos", w_pos), ("w_neg", w_neg)):
                if w.shape != (len(taxonomy),):
                    raise ValueError(f"{name} must have shape [{len(taxonomy)}], got {tuple(w.shape)}")
            self.register_buffer("w_pos", w_pos, persistent=False)
            self.register_buffer("w_neg", w_neg, persistent=False)

    @classmethod
    def from_config(cls, config: Config, taxonomy: Taxonomy, train_targets: torch.Tensor,
                    train_known: torch.Tensor | None = None,
                    describe_row: Callable[[int], str] | None = None) -> RareNodeLoss:
        """The loss of ``config.loss``, with node weights from ``train_targets``.

        Args:
            config: The run configuration (its ``loss`` section).
            taxonomy: The label hierarchy.
            train_targets: Ancestor-closed targets [n, N] of the training split proper.
            train_known: Optional known-cell mask [n, N] (partial labels count only where known).
            describe_row: Unused (the signature of :class:`~seafloorhmc.losses.factory.LossBuilder`).

        Returns:
            The configured loss.
        """
        cfg = config.loss
        weights = None
        if cfg.node_weights != "none":
            weights = node_weights(train_targets, taxonomy, mode=cfg.node_weights, omega=cfg.omega,
                                   negative=cfg.negative_weights, known=train_known)
        return cls(
            taxonomy, weights=weights, weight_target=cfg.weight_target,
            uncertainty=None if cfg.uncertainty == "none" else cfg.uncertainty, focal_k=cfg.focal_k,
            focal_min=cfg.focal_min, reduction=cfg.reduction,
            schedule=WeightSchedule(cfg.schedule, k=cfg.schedule_k, per=cfg.schedule_per), omega=cfg.omega,
            mixed_lambda=cfg.mixed_lambda, uncertainty_source=cfg.uncertainty_source,
        )

    # ------------------------------------------------------------------ schedule
    def set_progress(self, step: int, total: int) -> None:
        """Tell the loss where training is, so the weight schedule can move the weights.

        Args:
            step: Batch within the epoch, or step within the run (per the schedule's ``per``).
            total: Number of batches per epoch, or steps per run.
        """
        self._progress = self.schedule.factor(step, total)

    def current_weights(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The node weights at this point of the schedule.

        Returns:
            (w_pos, w_neg) moved toward ω by the schedule's factor, or None without node weights.
        """
        if self.w_pos is None or self.w_neg is None:
            return None
        t = self._progress
        if t == 0.0:
            return self.w_pos, self.w_neg
        return self.w_pos + (self.omega - self.w_pos) * t, self.w_neg + (self.omega - self.w_neg) * t

    # ------------------------------------------------------------------ forward
    def forward(self, member_logits: torch.Tensor, targets: torch.Tensor,
                known: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of one batch.

        Args:
            member_logits: Member logits [M, B, N] or [B, N].
            targets: Ancestor-closed targets [B, N].
            known: Optional bool [B, N]; unknown cells do not count.

        Returns:
            The scalar loss, or [M, B, N] for ``reduction="none"``.

        Raises:
            ValueError: If logits and targets do not match the taxonomy and each other.
        """
        logits = member_logits.unsqueeze(0) if member_logits.dim() == 2 else member_logits
        if logits.dim() != 3 or logits.shape[1:] != targets.shape or logits.shape[-1] != len(self.taxonomy):
            raise ValueError(
                f"expected member logits [M, B, {len(self.taxonomy)}] and targets [B, {len(self.taxonomy)}], "
                f"got {tuple(member_logits.shape)} and {tuple(targets.shape)}")
        targets = targets.to(logits.dtype)
        positive = targets > 0.5
        mask, cells = self._mask(targets, known)
        weights = self._cell_weights(logits, positive, mask)
        if self.reduction == "none":
            return mcloss_elements(logits, targets, self.taxonomy) * weights
        if self.reduction == "mean":
            cells = cells * logits.shape[0]
            weights = weights * (1.0 / max(cells, 1)) if isinstance(cells, int) else weights / cells.clamp_min(1)
        return weighted_mcloss_sum(logits, targets, weights, self.taxonomy, positive)

    def _mask(self, targets: torch.Tensor, known: torch.Tensor | None) -> tuple[torch.Tensor, int | torch.Tensor]:
        """(float mask [N] or [B, N] of the cells that count, their number)."""
        eval_mask = self.eval_mask.to(targets.device)
        if known is None:
            return eval_mask.to(targets.dtype), int(self._eval_count) * targets.shape[0]
        mask = eval_mask & known.to(device=targets.device, dtype=torch.bool)
        return mask.to(targets.dtype), mask.sum()

    def cell_weights(self, logits: torch.Tensor, targets: torch.Tensor,
                     known: torch.Tensor | None = None) -> torch.Tensor:
        """Weight of each (example, node) cell, shared by the members (for inspection and plots).

        Args:
            logits: Member logits [M, B, N] (the focal factor's uncertainty comes from them).
            targets: Ancestor-closed targets [B, N].
            known: Optional bool [B, N]; unknown cells get 0.

        Returns:
            [B, N]: mask · a · φ, blended with the plain mask by ``mixed_lambda``; no gradient.
        """
        targets = targets.to(logits.dtype)
        return self._cell_weights(logits, targets > 0.5, self._mask(targets, known)[0]).expand_as(targets)

    def _cell_weights(self, logits: torch.Tensor, positive: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scale = None
        weights = self.current_weights()
        if weights is not None:
            w_pos, w_neg = weights
            on_positive, on_negative = (w_pos, w_neg) if self.weight_target == "positive" else (w_neg, w_pos)
            scale = torch.where(positive, on_positive.to(logits.dtype), on_negative.to(logits.dtype))
        if self.uncertainty is not None:
            source = logits.detach()
            if self.uncertainty_source == "constrained":
                source = max_constraint(source, self.taxonomy)
            phi = focal_factor(node_uncertainty(torch.sigmoid(source), self.uncertainty), self.focal_k, self.focal_min)
            scale = phi if scale is None else scale * phi
        if scale is None:
            return mask.expand(positive.shape)
        if self.mixed_lambda is not None:
            scale = self.mixed_lambda * scale + (1 - self.mixed_lambda)
        return scale * mask


LOSSES.register("rare_node", RareNodeLoss.from_config)
