"""Training, evaluation and checkpoints."""

from .checkpoint import CheckpointError, read_info
from .run_dir import RunDirError
from .trainer import NonFiniteLossError, Trainer, train

__all__ = ["train", "Trainer", "CheckpointError", "NonFiniteLossError", "RunDirError", "read_info"]
