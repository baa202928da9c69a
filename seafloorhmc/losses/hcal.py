"""HCAL's loss: prototype cross-entropy per level, combined adaptively.

HCAL is Jiang et al. 2025, "Hierarchy-Consistent Learning and Adaptive Loss Balancing for
Hierarchical Multi-Label Classification" (arXiv:2508.13452; released code HaobingLiu/HCAL).

Input: the prototype head's slot logits z = ⟨f, p̃⟩/τ, [1, B, S] (perturbation already applied
there while training), and ancestor-closed node targets, turned into one slot label per level by
:class:`~seafloorhmc.levels.TaxonomyLevels` (masked levels, −1, leave that level's loss).

* Finest level (HCAL's level 1): cross-entropy of every labelled sample, averaged over samples.
* Coarser levels, ``parent_anchor="batch_centroid"`` (HCAL): the anchors are the in-batch class
  centroids g_c = mean of the embeddings f of the samples labelled c (not re-normalised). Since
  ⟨g_c, p⟩ = mean_i ⟨f_i, p⟩, their logits are the per-class means of the sample logits, so the
  loss is cross-entropy over those centroid rows, averaged over the classes present.
  ``"sample"``: the coarse levels use the samples too (a "without aggregation" ablation).

Level weighting (the weights never carry gradient, except Kendall's learned θ):

* ``awa`` (released code): λ = softmax(ℓ.detach()/γ) every step, γ = 0.5; Σλ = 1.
* ``dwa`` (the abstract's "convergence rates", inferred; MTAN's DWA): per epoch,
  r_k = L̄_k(t−1)/L̄_k(t−2), λ = L·softmax(r/T), T = 2, λ = 1 for the first two epochs; Σλ = L.
  L̄ are the epoch means of the per-level training losses; the trainer calls :meth:`on_epoch_end`.
* ``equal``: λ = 1 (the plain sum of the level losses).
* ``uncertainty`` (Kendall, commented out in the released code): (1/L)Σ exp(−θ_k)ℓ_k + Σθ_k,
  θ learnable from 0.

A level with no labelled sample in the batch drops out (AWA renormalises over the others).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import torch
import torch.nn.functional as F
from torch import nn

from ..choices import LevelWeighting, ParentAnchor
from ..config import Config
from ..levels import TaxonomyLevels
from ..taxonomy import Taxonomy
from .factory import LOSSES

__all__ = ["HCALLoss", "LEVEL_WEIGHTINGS", "PARENT_ANCHORS", "centroid_logits", "level_losses", "awa_weights",
           "dwa_weights"]

LEVEL_WEIGHTINGS: tuple[str, ...] = get_args(LevelWeighting)
PARENT_ANCHORS: tuple[str, ...] = get_args(ParentAnchor)


def centroid_logits(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of HCAL's in-batch class centroids: the per-class mean rows of the sample logits.

    Since ⟨g_c, p⟩ = mean_i ⟨f_i, p⟩, the mean of the sample logits is the centroid's logit.

    Args:
        logits: Sample logits [B, C].
        labels: Class of each sample [B].

    Returns:
        (centroid logits [U, C], the U classes present, sorted).
    """
    classes, inverse = torch.unique(labels, return_inverse=True)
    sums = torch.zeros(len(classes), logits.shape[1], dtype=logits.dtype, device=logits.device)
    sums = sums.index_add(0, inverse, logits)
    counts = torch.bincount(inverse, minlength=len(classes)).to(logits.dtype)
    return sums / counts[:, None], classes


def level_losses(logits: torch.Tensor, slots: torch.Tensor, levels: TaxonomyLevels,
                 parent_anchor: str = "batch_centroid") -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of each level, the terms HCAL's adaptive weighting combines.

    Args:
        logits: Slot logits [B, S].
        slots: Slot labels [B, L] (−1: level masked for that sample).
        levels: The taxonomy's levels.
        parent_anchor: ``"batch_centroid"`` (coarse levels score class centroids) or ``"sample"``.

    Returns:
        (ℓ [L], present bool [L]); ℓ = 0 (still in the graph) where no sample is labelled.
    """
    losses, present = [], []
    finest = len(levels) - 1
    for k, level_logits in enumerate(levels.split(logits)):
        labelled = slots[:, k] >= 0
        if not bool(labelled.any()):
            losses.append(level_logits.sum() * 0.0)
            present.append(False)
            continue
        rows, labels = level_logits[labelled], slots[labelled, k]
        if k != finest and parent_anchor == "batch_centroid":
            rows, labels = centroid_logits(rows, labels)
        losses.append(F.cross_entropy(rows, labels))
        present.append(True)
    return torch.stack(losses), torch.tensor(present, device=logits.device)


def awa_weights(losses: torch.Tensor, present: torch.Tensor, gamma: float) -> torch.Tensor:
    """AWA level weights of HCAL's released code: harder levels (larger loss) weigh more.

    Args:
        losses: Level losses ℓ [L].
        present: Bool [L], levels with a labelled sample.
        gamma: Temperature γ.

    Returns:
        softmax(ℓ/γ) over the present levels (0 elsewhere), detached.
    """
    scaled = (losses.detach() / gamma).masked_fill(~present, float("-inf"))
    return torch.softmax(scaled, dim=0)


def dwa_weights(previous: torch.Tensor, before: torch.Tensor, temperature: float) -> torch.Tensor:
    """DWA level weights (Liu et al. 2019, MTAN): levels whose loss falls slowly weigh more.

    Args:
        previous: Mean level losses of the last epoch L̄(t−1) [L].
        before: Mean level losses of the epoch before L̄(t−2) [L].
        temperature: Temperature T.

    Returns:
        L·softmax(r/T), r = L̄(t−1)/L̄(t−2); r = 1 where a mean is missing or zero.
    """
    ratio = previous / before
    ratio = torch.where(torch.isfinite(ratio) & (before > 0), ratio, torch.ones_like(ratio))
    return len(ratio) * torch.softmax(ratio / temperature, dim=0)


class HCALLoss(nn.Module):
    """Loss over the prototype head's slot logits [1, B, S] (or [B, S]) and node targets [B, N].

    Args:
        taxonomy: A tree taxonomy (see :class:`~seafloorhmc.levels.TaxonomyLevels`).
        level_weighting: ``awa``, ``dwa``, ``equal`` or ``uncertainty`` (see the module docstring).
        gamma: AWA's temperature γ.
        dwa_temperature: DWA's temperature T.
        parent_anchor: ``"batch_centroid"`` (HCAL) or ``"sample"``.

    Attributes:
        levels: The taxonomy's levels.
        last_losses: The level losses of the last call (detached), for logging.
        last_weights: The level weights of the last call, for logging.

    Raises:
        ValueError: On an unknown weighting or anchor, or a non-positive temperature.
        LevelsError: If the taxonomy is not a tree with more than one node.
    """

    epoch_means: torch.Tensor
    dwa_lambda: torch.Tensor

    def __init__(self, taxonomy: Taxonomy, level_weighting: str = "awa", gamma: float = 0.5,
                 dwa_temperature: float = 2.0, parent_anchor: str = "batch_centroid") -> None:
        super().__init__()
        if level_weighting not in LEVEL_WEIGHTINGS:
            raise ValueError(f"level_weighting must be one of {', '.join(LEVEL_WEIGHTINGS)}, got {level_weighting!r}")
        if parent_anchor not in PARENT_ANCHORS:
            raise ValueError(f"parent_anchor must be one of {', '.join(PARENT_ANCHORS)}, got {parent_anchor!r}")
        if gamma <= 0 or dwa_temperature <= 0:
            raise ValueError(f"gamma and dwa_temperature must be positive, got {gamma} and {dwa_temperature}")
        self.levels = TaxonomyLevels(taxonomy)
        self.level_weighting = level_weighting
        self.gamma = float(gamma)
        self.dwa_temperature = float(dwa_temperature)
        self.parent_anchor = parent_anchor
        n = len(self.levels)
        # DWA state, saved with checkpoints so a resumed run continues exactly
        self.register_buffer("epoch_means", torch.full((2, n), float("nan"), dtype=torch.float64))
        self.register_buffer("dwa_lambda", torch.ones(n))
        self.log_vars = nn.Parameter(torch.zeros(n)) if level_weighting == "uncertainty" else None
        self._sums = torch.zeros(n, dtype=torch.float64)
        self._counts = torch.zeros(n, dtype=torch.float64)
        self.last_losses: torch.Tensor | None = None
        self.last_weights: torch.Tensor | None = None

    @classmethod
    def from_config(cls, config: Config, taxonomy: Taxonomy, train_targets: torch.Tensor | None = None,
                    train_known: torch.Tensor | None = None,
                    describe_row: Callable[[int], str] | None = None) -> HCALLoss:
        """The loss of ``config.loss``; the training targets are checked to hold one path per sample.

        Args:
            config: The run configuration (its ``loss`` section).
            taxonomy: The label hierarchy (a tree).
            train_targets: Optional ancestor-closed training targets [n, N], checked for one path each.
            train_known: Unused (a partial label simply ends its path early).
            describe_row: Names training row i in the error a multi-path row raises.

        Returns:
            The configured loss.
        """
        cfg = config.loss
        loss = cls(taxonomy, level_weighting=cfg.level_weighting, gamma=cfg.gamma,
                   dwa_temperature=cfg.dwa_temperature, parent_anchor=cfg.parent_anchor)
        if train_targets is not None:
            loss.levels.encode(train_targets, describe=describe_row or (lambda row: f"training sample {row}"))
        return loss

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
        """The weighted sum of the level losses of one batch.

        Args:
            logits: Slot logits [1, B, S] or [B, S].
            targets: Ancestor-closed node targets [B, N].
            known: Not needed: a partial label ends its path at an inner node, whose deeper levels
                are masked anyway (see :mod:`seafloorhmc.levels`).

        Returns:
            The scalar loss.

        Raises:
            ValueError: If logits and targets do not match in shape.
        """
        scores = logits[0] if logits.dim() == 3 else logits
        if scores.dim() != 2 or scores.shape[0] != targets.shape[0]:
            raise ValueError(f"expected slot logits [1, B, {self.levels.num_slots}] and targets [B, N], "
                             f"got {tuple(logits.shape)} and {tuple(targets.shape)}")
        slots = self.levels.encode(targets, describe=lambda row: f"batch row {row}")
        losses, present = level_losses(scores, slots, self.levels, self.parent_anchor)
        if torch.is_grad_enabled():  # training steps only: evaluation runs under no_grad
            self._sums = self._sums.to(losses.device) + (losses.detach() * present).double()
            self._counts = self._counts.to(losses.device) + present.double()
        self.last_losses = losses.detach()
        if self.level_weighting == "uncertainty":
            assert self.log_vars is not None  # created in __init__ for this weighting
            theta = self.log_vars.to(losses.dtype)
            terms = (torch.exp(-theta) * losses / len(self.levels) + theta) * present
            self.last_weights = (torch.exp(-theta.detach()) / len(self.levels)) * present
            return terms.sum()
        weights = self.current_weights(losses, present)
        self.last_weights = weights
        return (weights * losses).sum()

    def current_weights(self, losses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Level weights λ for this step (detached).

        Args:
            losses: Level losses ℓ [L].
            present: Bool [L], levels with a labelled sample.

        Returns:
            λ [L]: AWA's, DWA's (set at the last epoch end) or ones, 0 where absent.
        """
        if self.level_weighting == "awa":
            return awa_weights(losses, present, self.gamma)
        if self.level_weighting == "dwa":
            return self.dwa_lambda.to(losses.dtype) * present
        return present.to(losses.dtype)

    def on_epoch_end(self, epoch: int, reduce: Callable | None = None) -> None:
        """Close the epoch: record the mean training loss of each level and, for DWA, set the next weights.

        Args:
            epoch: The epoch that ended (0-based); DWA starts adapting after the second.
            reduce: Sums numbers over processes (``DistContext.sum_floats``); None for one process.
        """
        sums, counts = self._sums.cpu(), self._counts.cpu()
        if reduce is not None:
            values = reduce(*sums.tolist(), *counts.tolist())
            sums = torch.tensor(values[:len(sums)], dtype=torch.float64)
            counts = torch.tensor(values[len(sums):], dtype=torch.float64)
        means = torch.where(counts > 0, sums / counts.clamp_min(1), torch.full_like(sums, float("nan")))
        history = self.epoch_means
        history.copy_(torch.stack([history[1], means.to(history.device)]))
        if self.level_weighting == "dwa" and epoch >= 1:
            self.dwa_lambda.copy_(dwa_weights(history[1], history[0], self.dwa_temperature).to(self.dwa_lambda))
        self._sums = torch.zeros_like(self._sums)
        self._counts = torch.zeros_like(self._counts)


LOSSES.register("hcal", HCALLoss.from_config)
