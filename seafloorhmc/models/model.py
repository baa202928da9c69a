"""The model: encoder → head → member logits, and predictions that respect the hierarchy."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..constraint import max_constraint
from ..taxonomy import Taxonomy
from ..uncertainty import node_uncertainty

__all__ = ["HierarchicalClassifier", "Prediction"]


@dataclass
class Prediction:
    """probs: mean over members of the constrained member probabilities [B, N] (hierarchy-
    consistent, since a mean of consistent vectors is consistent); member_probs: [M, B, N].

    Heads that decide per level (the prototype head) also give ``predicted``, bool [B, N], the node
    sets they decided (use it instead of thresholding ``probs``), and ``level_choices``, the slot
    chosen at each level [B, L] by every decoding (see :mod:`seafloorhmc.decoding`).
    """

    probs: torch.Tensor
    member_probs: torch.Tensor
    predicted: torch.Tensor | None = None
    level_choices: dict[str, torch.Tensor] = field(default_factory=dict)

    def uncertainty(self, mode: str = "bma") -> torch.Tensor:
        return node_uncertainty(self.member_probs, mode)


class HierarchicalClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, head: nn.Module, taxonomy: Taxonomy, freeze_encoder: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.taxonomy = taxonomy
        self.freeze_encoder = freeze_encoder

    @property
    def members(self) -> int:
        return self.head.members

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()  # frozen BatchNorm statistics too
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.freeze_encoder:
            with torch.no_grad():
                return self.encoder(x)
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Member logits [M, B, N] (unconstrained; the loss applies the constraint)."""
        return self.head(self.features(x))

    def head_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Member logits from precomputed features (feature cache, tabular data)."""
        return self.head(features)

    @torch.no_grad()
    def predict_from_logits(self, logits: torch.Tensor, decoding: str = "independent") -> Prediction:
        """``decoding`` matters only for heads that decide per level (they define their own)."""
        if hasattr(self.head, "predict_from_logits"):
            return self.head.predict_from_logits(logits, decoding)
        member_probs = torch.sigmoid(max_constraint(logits.float(), self.taxonomy))
        return Prediction(probs=member_probs.mean(0), member_probs=member_probs)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, decoding: str = "independent") -> Prediction:
        return self.predict_from_logits(self(x), decoding)
