"""Build models: from a configuration (:func:`build_model`) or timm-style by name (:func:`create_model`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..config import ConfigError, ModelConfig, config_from_dict
from ..taxonomy import Taxonomy
from .encoders import Encoder, build_encoder
from .heads import HEADS
from .model import HierarchicalClassifier

__all__ = ["build_head", "build_model", "create_model"]


def build_head(cfg: ModelConfig, in_features: int, taxonomy: Taxonomy) -> nn.Module:
    """The head ``cfg.head`` names, from the :data:`~seafloorhmc.models.heads.HEADS` registry.

    Args:
        cfg: The model config.
        in_features: Width of the features the head sees.
        taxonomy: The label hierarchy.

    Returns:
        The head module.
    """
    return HEADS.get(cfg.head).build(cfg, in_features, taxonomy)


def build_model(cfg: ModelConfig, taxonomy: Taxonomy, seed: int = 0, feature_dim: int | None = None,
                load_weights: bool = True) -> tuple[HierarchicalClassifier, Encoder | None]:
    """Encoder + head as ``cfg`` describes them.

    Args:
        cfg: The model config.
        taxonomy: The label hierarchy (one output per node).
        seed: Seed of the noise-mixing initialisation (``noise_alpha``).
        feature_dim: Width of tabular features: no encoder, the head sees the features directly.
        load_weights: Load the pretrained encoder file (False when a checkpoint follows).

    Returns:
        The classifier and its encoder description (None for feature data).
    """
    if feature_dim is not None:
        head = build_head(cfg, feature_dim, taxonomy)
        return HierarchicalClassifier(nn.Identity(), head, taxonomy), None
    encoder = build_encoder(cfg.encoder, weights=cfg.weights if (cfg.pretrained and load_weights) else None,
                            freeze=cfg.freeze, noise_alpha=cfg.noise_alpha if load_weights else 0.0,
                            noise_seed=seed, drop_rate=cfg.drop_rate)
    head = build_head(cfg, encoder.num_features, taxonomy)
    return HierarchicalClassifier(encoder.module, head, taxonomy, freeze_encoder=cfg.freeze), encoder


def create_model(encoder: str | None, taxonomy: Taxonomy, *, head: str = "mlp", members: int = 1,
                 member_type: str = "ensemble", weights: str | Path | None = None, freeze: bool = False,
                 noise_alpha: float = 0.0, feature_dim: int | None = None, seed: int = 0,
                 **options: Any) -> HierarchicalClassifier:
    """A hierarchical classifier from a timm encoder name, like ``timm.create_model``.

    Every keyword is a ``model.*`` config key (``seafloorhmc keys`` lists them, e.g. ``hidden``,
    ``dropout``, ``head_layers``, ``drop_rate``, ``embedding_dim``) and is checked as a config would
    be, so a typo is refused with a suggestion.

    Args:
        encoder: Any timm model name (ignored when ``feature_dim`` is given).
        taxonomy: The label hierarchy (one output per node).
        head: A registered head (``mlp``: C-HMCNN members + max-constraint; ``prototype``: HCAL).
        members: Ensemble members or MC-dropout samples.
        member_type: ``ensemble`` or ``mc_dropout``.
        weights: Local pretrained weights (safetensors or a ``weights_only`` checkpoint); nothing is
            downloaded.
        freeze: Train the head only.
        noise_alpha: Weaken the encoder: θ = (1 − α)·pretrained + α·random init.
        feature_dim: Width of tabular features instead of an image encoder.
        seed: Seed of the random initialisation mixed in by ``noise_alpha``.
        **options: Further ``model.*`` keys.

    Returns:
        The model (random head, encoder as loaded), in training mode.

    Raises:
        ConfigError: For an unknown key or a value out of range.
    """
    values = {"head": head, "members": members, "member_type": member_type, "freeze": freeze,
              "noise_alpha": noise_alpha, "pretrained": weights is not None,
              "weights": None if weights is None else str(weights), **options}
    if encoder is not None:
        values["encoder"] = encoder
    try:
        cfg = config_from_dict({"model": values}).model
    except ConfigError as err:
        raise ConfigError(str(err).replace("model.", "", 1)) from None
    model, _ = build_model(cfg, taxonomy, seed=seed, feature_dim=feature_dim)
    return model
