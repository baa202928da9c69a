"""HCAL's prototype head: cosine similarity to learnable per-level prototypes.

HCAL is Jiang et al. 2025 (arXiv:2508.13452; released code HaobingLiu/HCAL).

features → (optional MLP) → Linear → L2-normalised embedding f (d = 256 in HCAL). Each level k of
the taxonomy (:class:`~seafloorhmc.levels.TaxonomyLevels`) has a prototype matrix Pᵏ [S_k, d],
initialised from N(0, 0.01²) and normalised row-wise whenever it is used. The head returns the
cosine logits ⟨f, p̂⟩/τ of every slot of every level, as one "member": [1, B, S].

While training, each normalised prototype is perturbed by fresh uniform noise U[−ε, ε] and
re-normalised on every forward pass ("expanding decision boundaries"); in eval mode it is not.
The loss needs nothing else: the centroid anchors of the coarse levels are means of these sample
logits (the cosine is linear in f, see :mod:`seafloorhmc.losses.hcal`).

Predictions decide each level by argmax (independent, as HCAL; violations possible) or take the
best-scoring valid path (consistent); see :mod:`seafloorhmc.decoding`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..decoding import DECODINGS, decode
from ..levels import TaxonomyLevels
from ..taxonomy import Taxonomy
from .heads import HEADS, HeadSpec
from .model import Prediction

__all__ = ["PrototypeHead", "perturb_prototypes"]

PROTOTYPE_INIT_STD = 0.01


def perturb_prototypes(prototypes: torch.Tensor, epsilon: float) -> torch.Tensor:
    """HCAL's prototype perturbation, which widens the decision boundaries while training.

    Args:
        prototypes: Normalised prototypes [S, d].
        epsilon: Noise half-width ε.

    Returns:
        normalize(p̂ + ξ), ξ ~ U[−ε, ε]ᵈ i.i.d. per row; gradients pass to ``prototypes``.
    """
    noise = torch.empty_like(prototypes).uniform_(-epsilon, epsilon)
    return F.normalize(prototypes + noise, dim=-1)


class PrototypeHead(nn.Module):
    """features [B, D] → slot logits [1, B, S] (S = all slots of all levels, level by level).

    Args:
        in_features: Width D of the features.
        taxonomy: A tree taxonomy; its levels (:class:`~seafloorhmc.levels.TaxonomyLevels`) give
            the prototypes.
        embedding_dim: Width d of the embedding (256 in HCAL).
        temperature: Temperature τ of the cosine logits.
        noise: Perturbation half-width ε while training (0: none).
        hidden: Width of the optional MLP's layers (D when None).
        hidden_layers: Layers of an MLP (Linear → ReLU → dropout) before the embedding layer,
            useful for tabular features; HCAL on images uses none (the embedding replaces
            ResNet's fc).
        dropout: Dropout of that MLP.
        lr_scale: Learning-rate multiplier of the finest level's prototypes.

    Attributes:
        levels: The taxonomy's levels.

    Raises:
        ValueError: If the temperature is not positive or the noise is negative.
        LevelsError: If the taxonomy is not a tree with more than one node.
    """

    def __init__(self, in_features: int, taxonomy: Taxonomy, embedding_dim: int = 256, temperature: float = 0.1,
                 noise: float = 0.01, hidden: int | None = None, hidden_layers: int = 0, dropout: float = 0.0,
                 lr_scale: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if noise < 0:
            raise ValueError(f"prototype noise must be non-negative, got {noise}")
        self.levels = TaxonomyLevels(taxonomy)
        self.members = 1
        self.temperature = float(temperature)
        self.noise = float(noise)
        self.lr_scale = float(lr_scale)
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(hidden_layers):
            layers += [nn.Linear(width, hidden or in_features), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden or in_features
        layers.append(nn.Linear(width, embedding_dim))
        self.embed = nn.Sequential(*layers)
        self.prototypes = nn.ParameterList(
            [nn.Parameter(torch.randn(size, embedding_dim) * PROTOTYPE_INIT_STD) for size in self.levels.sizes])

    def embedding(self, features: torch.Tensor) -> torch.Tensor:
        """The L2-normalised embedding the cosine logits are taken of.

        Args:
            features: Features [B, D].

        Returns:
            f [B, d].
        """
        return F.normalize(self.embed(features), dim=-1)

    def prototype_matrix(self) -> torch.Tensor:
        """All levels' normalised prototypes; perturbed while training (fresh noise per call).

        Returns:
            Prototypes [S, d], level by level.
        """
        rows = [F.normalize(p, dim=-1) for p in self.prototypes]
        if self.training and self.noise > 0:
            rows = [perturb_prototypes(p, self.noise) for p in rows]
        return torch.cat(rows)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Cosine logits of every slot of every level, as one member.

        Args:
            features: Features [B, D].

        Returns:
            Slot logits [1, B, S] = ⟨f, p̂⟩/τ.
        """
        f = self.embedding(features)
        return (f @ self.prototype_matrix().to(f.dtype).T / self.temperature).unsqueeze(0)

    def lr_scaled_parameters(self) -> list[tuple[float, list[nn.Parameter]]]:
        """Per-level learning rates of the prototypes, as HCAL's released code sets them.

        Returns:
            (learning-rate multiplier, parameters) per level: the finest level gets ``lr_scale``
            and each coarser level twice the one below (5×, 10×, 20× in HCAL's released code).
        """
        last = len(self.prototypes) - 1
        return [(self.lr_scale * 2.0 ** (last - k), [p]) for k, p in enumerate(self.prototypes)]

    @torch.no_grad()
    def predict_from_logits(self, logits: torch.Tensor, decoding: str = "independent") -> Prediction:
        """Node probabilities (softmax within each level) and the decided node sets.

        Args:
            logits: Slot logits [1, B, S] or [B, S].
            decoding: The decoding ``predicted`` follows (one of
                :data:`seafloorhmc.decoding.DECODINGS`).

        Returns:
            Node probabilities (softmax within each level), ``predicted`` node sets, and
            ``level_choices`` with the per-level slot choices of every decoding, so all can be
            scored.

        Raises:
            ValueError: On an unknown decoding.
        """
        if decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {', '.join(DECODINGS)}, got {decoding!r}")
        scores = logits.float()
        scores = scores[0] if scores.dim() == 3 else scores
        probs = self.levels.node_probabilities(scores)
        choices = {name: decode(scores, self.levels, name) for name in DECODINGS}
        return Prediction(probs=probs, member_probs=probs.unsqueeze(0),
                          predicted=self.levels.multi_hot(choices[decoding]), level_choices=choices)


def build_prototype_head(cfg, in_features: int, taxonomy: Taxonomy) -> PrototypeHead:
    """HCAL's prototype head from the model config.

    Args:
        cfg: The model config (``embedding_dim``, ``temperature``, ``prototype_noise``, ``hidden``,
            ``head_layers``, ``dropout``, ``prototype_lr_scale``).
        in_features: Width of the features the head sees.
        taxonomy: The label hierarchy (a tree; its levels give the prototypes).

    Returns:
        The head.
    """
    return PrototypeHead(in_features, taxonomy, embedding_dim=cfg.embedding_dim, temperature=cfg.temperature,
                         noise=cfg.prototype_noise, hidden=cfg.hidden, hidden_layers=cfg.head_layers - 1,
                         dropout=cfg.dropout, lr_scale=cfg.prototype_lr_scale)


HEADS.register("prototype", HeadSpec(build_prototype_head, loss="hcal",
                                     summary="HCAL prototypes per level (one member, levels decided by argmax)"))
