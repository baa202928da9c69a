"""The synthetic label tree as a :class:`~seafloorhmc.taxonomy.Taxonomy`.

Kept apart from :mod:`seafloorhmc.data.synthetic.taxonomy` (paths and class frequencies) so that
generating and reading the synthetic images needs no torch.
"""

from __future__ import annotations

from ...taxonomy import Taxonomy
from .taxonomy import PATH_SEP, SYNTHETIC_PATHS

__all__ = ["synthetic_taxonomy"]


def synthetic_taxonomy() -> Taxonomy:
    """The synthetic label tree (ids are the paths joined with "/").

    Returns:
        The taxonomy.
    """
    return Taxonomy.from_paths(SYNTHETIC_PATHS, sep=PATH_SEP)
