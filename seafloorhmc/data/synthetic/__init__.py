"""A built-in synthetic seafloor dataset: procedurally drawn echinoderms on textured seabed.

Small enough to train on a CPU in minutes, hierarchical (echinoderm subtree down to depth 4 plus
distractor branches), multi-label, long-tailed (the deepest leaves are in ~2-3 % of images) and
partially labelled (a share of labels stop at a coarse node), so every part of the pipeline can be
exercised end to end without downloading survey imagery.

Modules: ``taxonomy`` (label tree, class frequencies), ``shapes`` (drawing helpers), ``seabed``
(sediment and unlabelled clutter), ``organisms`` (one painter per class), ``camera`` (strobe,
water, blur, noise), ``scene`` (plan and paint one image), ``annotate`` (partial labels),
``splits`` (stratified split), ``generate`` (writing the dataset); ``hierarchy`` gives the label tree as a
:class:`~seafloorhmc.taxonomy.Taxonomy` (the only module here that loads torch).
"""

from .generate import GENERATOR_VERSION, generate_synthetic_dataset, plan_scenes
from .taxonomy import (
    CLASS_WEIGHTS,
    PATH_SEP,
    SYNTHETIC_PATHS,
    class_probabilities,
    expected_image_frequency,
)

__all__ = [
    "CLASS_WEIGHTS", "GENERATOR_VERSION", "PATH_SEP", "SYNTHETIC_PATHS", "class_probabilities",
    "expected_image_frequency", "generate_synthetic_dataset", "plan_scenes",
]
