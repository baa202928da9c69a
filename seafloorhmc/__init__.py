"""seafloorhmc: hierarchical multi-label learning for seafloor imagery, tuned for rare deep nodes.

The public API, shaped like timm's entry points::

    import seafloorhmc as shm
    tax = shm.Taxonomy.from_paths(["Biota/Echinoderms/Sea urchins", "Biota/Sponges"])
    model = shm.create_model("resnet18", tax, members=8, weights="resnet18.safetensors", freeze=True)
    cfg = shm.load_config("configs/demo.yaml", ["train.epochs=2"])
    metrics = shm.train(cfg, out="runs/demo")
    model, transform, tax = shm.load_model("runs/demo")
    rows = shm.predict("runs/demo", "photos/")

Names are imported on first use (PEP 562), so ``import seafloorhmc`` and the command line's help
and config checks do not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .utils.lazy import lazy_attributes

__version__ = "0.2.0"

#: public name → module that defines it
_EXPORTS = {
    "Taxonomy": "seafloorhmc.taxonomy",
    "TaxonomyError": "seafloorhmc.labels",
    "max_constraint": "seafloorhmc.constraint",
    "node_uncertainty": "seafloorhmc.uncertainty",
    "RareNodeLoss": "seafloorhmc.losses",
    "HCALLoss": "seafloorhmc.losses",
    "node_weights": "seafloorhmc.losses",
    "build_loss": "seafloorhmc.losses",
    "create_model": "seafloorhmc.models",
    "load_model": "seafloorhmc.models",
    "HierarchicalClassifier": "seafloorhmc.models",
    "Config": "seafloorhmc.config",
    "ConfigError": "seafloorhmc.config",
    "load_config": "seafloorhmc.config",
    "train": "seafloorhmc.training",
    "predict": "seafloorhmc.prediction",
    "write_predictions": "seafloorhmc.prediction",
    "evaluate_checkpoint": "seafloorhmc.evaluation",
    "Runtime": "seafloorhmc.runtime",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from .config import Config as Config
    from .config import ConfigError as ConfigError
    from .config import load_config as load_config
    from .constraint import max_constraint as max_constraint
    from .evaluation import evaluate_checkpoint as evaluate_checkpoint
    from .labels import TaxonomyError as TaxonomyError
    from .losses import HCALLoss as HCALLoss
    from .losses import RareNodeLoss as RareNodeLoss
    from .losses import build_loss as build_loss
    from .losses import node_weights as node_weights
    from .models import HierarchicalClassifier as HierarchicalClassifier
    from .models import create_model as create_model
    from .models import load_model as load_model
    from .prediction import predict as predict
    from .prediction import write_predictions as write_predictions
    from .runtime import Runtime as Runtime
    from .taxonomy import Taxonomy as Taxonomy
    from .training import train as train
    from .uncertainty import node_uncertainty as node_uncertainty


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, globals())
