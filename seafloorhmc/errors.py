"""Error types shared across the package that belong to no single module.

Every user error the library raises is a ``ValueError`` (or ``OSError``) subclass whose message
names the file, row, node or setting at fault; the command line turns them into one line and exit
status 2. Module-specific errors live with their module (``TaxonomyError`` in :mod:`.labels`,
``AnnotationFormatError`` in :mod:`.data.errors`, ``CheckpointError`` in :mod:`.models.persistence`).
"""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A configuration key or value that cannot be used; the message names it and the choices."""
