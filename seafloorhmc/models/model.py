"""The model: encoder → head → member logits, and predictions that respect the hierarchy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import torch
from torch import nn

from ..constraint import max_constraint
from ..taxonomy import Taxonomy
from ..uncertainty import node_uncertainty

__all__ = ["HierarchicalClassifier", "Prediction"]


@dataclass
class Prediction:
    """What a model predicts for a batch: hierarchy-consistent probabilities and their members.

    Attributes:
        probs: Mean over members of the constrained member probabilities [B, N]
            (hierarchy-consistent, since a mean of consistent vectors is consistent).
        member_probs: The constrained member probabilities [M, B, N].
        predicted: For heads that decide per level (the prototype head), bool [B, N], the node
            sets they decided (use it instead of thresholding ``probs``); None otherwise.
        level_choices: For those heads, the slot chosen at each level [B, L] by every decoding
            (see :mod:`seafloorhmc.decoding`).
    """

    probs: torch.Tensor
    member_probs: torch.Tensor
    predicted: torch.Tensor | None = None
    level_choices: dict[str, torch.Tensor] = field(default_factory=dict)

    def uncertainty(self, mode: str = "bma") -> torch.Tensor:
        """Per-node uncertainty across the members, e.g. to flag images for review.

        Args:
            mode: An uncertainty mode of :func:`seafloorhmc.uncertainty.node_uncertainty`.

        Returns:
            Uncertainty [B, N].
        """
        return node_uncertainty(self.member_probs, mode)


class HierarchicalClassifier(nn.Module):
    """Encoder → head → member logits [M, B, N], with predictions that respect the hierarchy.

    Args:
        encoder: Images → features (``nn.Identity`` for feature data).
        head: Features → member logits (a registered head).
        taxonomy: The label hierarchy (one output per node).
        freeze_encoder: Keep the encoder in eval mode without gradients.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, taxonomy: Taxonomy,
                 freeze_encoder: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.taxonomy = taxonomy
        self.freeze_encoder = freeze_encoder

    @property
    def members(self) -> int:
        """Number of members (ensemble members or dropout samples) the head produces."""
        # every head sets an int ``members``; nn.Module.__getattr__ types it as Tensor | Module
        return cast(int, self.head.members)

    def train(self, mode: bool = True):
        """Set training mode, keeping a frozen encoder in eval mode (frozen BatchNorm statistics too).

        Args:
            mode: Training (True) or evaluation (False).

        Returns:
            The model itself.
        """
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()  # frozen BatchNorm statistics too
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder features, without gradients when the encoder is frozen.

        Args:
            x: Images [B, C, H, W] (or features for ``nn.Identity``).

        Returns:
            Features [B, D].
        """
        if self.freeze_encoder:
            with torch.no_grad():
                return self.encoder(x)
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Member logits of a batch (unconstrained; the loss applies the constraint).

        Args:
            x: Images [B, C, H, W] (or features).

        Returns:
            Member logits [M, B, N].
        """
        return self.head(self.features(x))

    def head_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Member logits from precomputed features (feature cache, tabular data).

        Args:
            features: Features [B, D].

        Returns:
            Member logits [M, B, N].
        """
        return self.head(features)

    @torch.no_grad()
    def predict_from_logits(self, logits: torch.Tensor, decoding: str = "independent") -> Prediction:
        """Predictions from member logits: constrained, sigmoid, mean over members.

        Args:
            logits: Member logits [M, B, N].
            decoding: Matters only for heads that decide per level (they define their own
                ``predict_from_logits``).

        Returns:
            The prediction.
        """
        head_predict = getattr(self.head, "predict_from_logits", None)
        if head_predict is not None:
            return head_predict(logits, decoding)
        member_probs = torch.sigmoid(max_constraint(logits.float(), self.taxonomy))
        return Prediction(probs=member_probs.mean(0), member_probs=member_probs)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, decoding: str = "independent") -> Prediction:
        """Predictions for a batch of inputs (no gradients; call ``eval()`` first).

        Args:
            x: Images [B, C, H, W] (or features).
            decoding: See :meth:`predict_from_logits`.

        Returns:
            The prediction.
        """
        return self.predict_from_logits(self(x), decoding)
