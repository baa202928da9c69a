"""Load a trained model from a checkpoint for evaluation and prediction."""

from __future__ import annotations

from pathlib import Path

import torch

from ..models import HierarchicalClassifier, build_model
from .checkpoint import CheckpointInfo, load_weights, read_info


def load_trained_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> tuple[HierarchicalClassifier, CheckpointInfo]:
    """The model a checkpoint (file, checkpoint folder or run folder) describes, weights loaded,
    in eval mode. The architecture is rebuilt from the config stored in the file; no pretrained
    encoder file is needed."""
    info = read_info(checkpoint)
    model, _ = build_model(info.config.model, info.taxonomy, seed=info.config.seed, feature_dim=info.feature_dim,
                           load_weights=False)
    load_weights(model, info.path, expected_fingerprint=info.fingerprint)
    return model.to(device).eval(), info


def export_encoder(checkpoint: str | Path, out: str | Path) -> Path:
    """Save a trained model's encoder weights as safetensors, ready for ``model.weights=``."""
    from safetensors.torch import save_file

    from ..utils.atomic import atomic_path

    model, info = load_trained_model(checkpoint)
    if info.feature_dim is not None:
        raise ValueError(f"{info.path} has no image encoder (it was trained on feature vectors)")
    state = {k: v.contiguous() for k, v in model.encoder.state_dict().items()}
    with atomic_path(out) as tmp:
        save_file(state, str(tmp), metadata={"encoder": info.config.model.encoder, "source": str(info.path)})
    return Path(out)
