"""Exports the annotation tools import: ``seafloorhmc predict RUN INPUT --export NAME --out FILE``.

Each module of this package defines one :class:`~.base.Export` and registers it in :data:`EXPORTS`
when imported; importing the package imports them all, so the command line's ``--export`` choices
come from the registry and a new export is one module (and its test). Nothing here loads torch.

* ``coralnet`` — CoralNet's annotation upload CSV: ``Name,Row,Column,Label`` + machine suggestions
* ``biigle`` — rows with BIIGLE's ids (image labels, or the input's shape annotations)
* ``squidle`` — SQUIDLE+ point labels with ``likelihood`` and ``needs_review``
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import EXPORTS, Export, ExportSummary, ItemResults

__all__ = ["EXPORTS", "Export", "ExportSummary", "ItemResults"]

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
