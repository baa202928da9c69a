"""What one output row of ``seafloorhmc predict`` is about: an image, or a place in it (no torch)."""

from __future__ import annotations

from typing import NamedTuple

from ..data.records import Geometry

__all__ = ["PredictionItem"]


class PredictionItem(NamedTuple):
    """One output row: the file to open, the name written to the CSV, and where in the image (None: all of it)."""

    path: str
    name: str
    geometry: Geometry | None = None
