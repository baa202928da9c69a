"""Models: timm encoders, the registered heads, the classifier joining them, and saved models.

* :func:`create_model` / :func:`build_model` — by name (timm style) or from a config
* :data:`HEADS` — the head registry (``mlp``: batched ensemble / MC-dropout; ``prototype``: HCAL)
* :func:`load_model` — a trained run folder or weights file back as (model, eval transform, taxonomy)
"""

from . import prototype  # noqa: F401  (registers the prototype head)
from .encoders import Encoder, EncoderError, build_encoder
from .factory import build_head, build_model, create_model
from .heads import HEADS, EnsembleMLPHead, HeadSpec, MCDropoutHead
from .model import HierarchicalClassifier, Prediction
from .persistence import (
    CheckpointError,
    CheckpointInfo,
    LoadedModel,
    export_encoder,
    load_model,
    load_trained_model,
    load_weights,
    read_info,
    save_weights,
)

__all__ = ["create_model", "build_model", "build_head", "build_encoder", "Encoder", "EncoderError", "HEADS", "HeadSpec",
           "EnsembleMLPHead", "MCDropoutHead", "HierarchicalClassifier", "Prediction", "CheckpointError",
           "CheckpointInfo", "LoadedModel", "load_model", "load_trained_model", "load_weights", "read_info",
           "save_weights", "export_encoder"]
