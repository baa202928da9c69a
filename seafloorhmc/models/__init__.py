"""Models: timm encoders, batched ensemble / MC-dropout heads, and the classifier joining them."""

from .build import build_model
from .encoders import Encoder, EncoderError, build_encoder
from .heads import EnsembleMLPHead, MCDropoutHead
from .model import HierarchicalClassifier, Prediction

__all__ = ["build_model", "build_encoder", "Encoder", "EncoderError", "EnsembleMLPHead", "MCDropoutHead",
           "HierarchicalClassifier", "Prediction"]
