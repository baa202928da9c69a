"""Training: the epoch loop with validation-based selection, per-epoch checkpoints, run folders, DDP.

* :func:`train` / :class:`Trainer` — one run into one run folder (:mod:`.trainer`)
* :mod:`.checkpoints` — per-epoch checkpoints for exact resume; :mod:`.run_dir` — the run folder
* :mod:`.optim` — optimiser and learning-rate schedule; :mod:`.feature_cache` — frozen-encoder features
"""

from .run_dir import RunDir, RunDirError
from .trainer import NonFiniteLossError, Trainer, TrainState, train

__all__ = ["train", "Trainer", "TrainState", "NonFiniteLossError", "RunDir", "RunDirError"]
