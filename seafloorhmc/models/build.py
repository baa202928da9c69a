"""Build the model a configuration describes."""

from __future__ import annotations

from torch import nn

from ..config import ModelConfig
from ..taxonomy import Taxonomy
from .encoders import Encoder, build_encoder
from .heads import EnsembleMLPHead, MCDropoutHead
from .model import HierarchicalClassifier


def build_head(cfg: ModelConfig, in_features: int, num_nodes: int, taxonomy: Taxonomy | None = None) -> nn.Module:
    if cfg.head == "prototype":
        from .prototype import PrototypeHead

        if taxonomy is None:
            raise ValueError("the prototype head needs the taxonomy (its levels give the prototypes)")
        return PrototypeHead(in_features, taxonomy, embedding_dim=cfg.embedding_dim, temperature=cfg.temperature,
                             noise=cfg.prototype_noise, hidden=cfg.hidden, hidden_layers=cfg.head_layers - 1,
                             dropout=cfg.dropout, lr_scale=cfg.prototype_lr_scale)
    kwargs = dict(hidden=cfg.hidden, layers=cfg.head_layers, dropout=cfg.dropout)
    if cfg.member_type == "mc_dropout":
        return MCDropoutHead(in_features, num_nodes, samples=cfg.members, **kwargs)
    return EnsembleMLPHead(in_features, num_nodes, members=cfg.members, **kwargs)


def build_model(cfg: ModelConfig, taxonomy: Taxonomy, seed: int = 0, feature_dim: int | None = None,
                load_weights: bool = True) -> tuple[HierarchicalClassifier, Encoder | None]:
    """Encoder + head. ``feature_dim`` given (tabular features): no encoder, the head sees the
    features directly. ``load_weights=False`` skips the pretrained file (a checkpoint follows)."""
    if feature_dim is not None:
        head = build_head(cfg, feature_dim, len(taxonomy), taxonomy)
        return HierarchicalClassifier(nn.Identity(), head, taxonomy), None
    encoder = build_encoder(cfg.encoder, weights=cfg.weights if (cfg.pretrained and load_weights) else None,
                            freeze=cfg.freeze, noise_alpha=cfg.noise_alpha if load_weights else 0.0,
                            noise_seed=seed, drop_rate=cfg.drop_rate)
    head = build_head(cfg, encoder.num_features, len(taxonomy), taxonomy)
    return HierarchicalClassifier(encoder.module, head, taxonomy, freeze_encoder=cfg.freeze), encoder
