"""Error types shared across the package that belong to no single module.

Every user error the library raises is a ``ValueError`` (or ``OSError``) subclass whose message
names the file, row, node or setting at fault; the command line turns them into one line and exit
status 2. Module-specific errors live with their module (``TaxonomyError`` in :mod:`.labels`,
``AnnotationFormatError`` in :mod:`.data.errors`, ``CheckpointError`` in :mod:`.models.persistence`).
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["ConfigError", "DivergenceError", "MissingExtraError", "require_extra", "DIVERGENCE_CAUSES"]

#: What usually makes a training run diverge, appended to every divergence message.
DIVERGENCE_CAUSES = ("likely causes: a learning rate too high for this model and batch size (lower train.lr, e.g. "
                     "tenfold), no gradient clipping (set train.grad_clip=1.0), or extreme input values")


class ConfigError(ValueError):
    """A configuration key or value that cannot be used; the message names it and the choices."""


class MissingExtraError(RuntimeError):
    """An optional dependency is not installed; the message names the ``pip install`` extra to add."""


def require_extra(module: str, extra: str, needed_by: str) -> ModuleType:
    """Import an optional dependency, or say which ``pip install`` extra brings it.

    Args:
        module: The module to import (``ray``, ``optuna``).
        extra: The seafloorhmc extra that installs it.
        needed_by: What needs it, for the message (``seafloorhmc tune``).

    Returns:
        The module.

    Raises:
        MissingExtraError: If it is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f'{needed_by} needs {module}: pip install "seafloorhmc[{extra}]"') from None


class DivergenceError(FloatingPointError):
    """Training diverged: a non-finite loss, gradient or prediction, or a loss far above its start.

    The message names the epoch and step (counted from 1), the images of the batch where it was
    seen, and :data:`DIVERGENCE_CAUSES`.
    """
