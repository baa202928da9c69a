"""Annotation readers: each turns one tool's export into :class:`~seafloorhmc.data.records.AnnotationRecord` s.

Every module of this package registers its format in :data:`seafloorhmc.data.formats.FORMATS`
when imported; importing this package imports them all (so a new module is picked up by itself).
Every reader resolves image paths to strings, sets ``source`` to its format name and ``where`` to
``file:row`` (spreadsheet row numbers, header = 1), and raises
:class:`~seafloorhmc.data.errors.AnnotationFormatError` naming the file, row and column of bad input.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from ..errors import AnnotationFormatError
from ..formats import FORMATS, DataFormat
from ..records import AnnotationRecord

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

from .benthicnet import read_benthicnet  # noqa: E402
from .biigle import read_biigle_label_tree, read_biigle_report  # noqa: E402
from .coco import read_coco  # noqa: E402
from .coralnet import read_coralnet, read_coralnet_label_map, read_coralnet_points  # noqa: E402
from .folder import list_images, read_folder  # noqa: E402
from .manifest import read_manifest, read_manifest_images, write_manifest  # noqa: E402
from .squidle import read_squidle  # noqa: E402


def read_annotations(fmt: str, path: str | Path, **options) -> list[AnnotationRecord]:
    """Read ``path`` with the reader of the registered format ``fmt`` (case-insensitive).

    Args:
        fmt: A registered data format with a reader (``manifest``, ``coralnet``, ...).
        path: The export file (or folder, for ``folder``).
        **options: The reader's keyword arguments.

    Returns:
        The annotation records.

    Raises:
        RegistryError: If ``fmt`` is not a registered format.
        ValueError: If the format has no annotation reader (feature data).
    """
    spec = FORMATS.get(str(fmt).strip().lower())
    if spec.read is None:
        raise ValueError(f"data format {spec.name!r} has no annotation reader (it holds {spec.summary})")
    return spec.read(path, **options)


def prediction_formats() -> tuple[str, ...]:
    """``seafloorhmc predict --format`` choices, derived from the registry so new formats appear by themselves.

    Returns:
        ``auto`` and every registered image format that predict accepts.
    """
    return ("auto", *(name for name, spec in FORMATS.items() if spec.predict_input and not spec.features))


__all__ = [
    "prediction_formats", "FORMATS", "DataFormat", "AnnotationFormatError", "read_annotations", "read_benthicnet",
    "read_biigle_label_tree",
    "read_biigle_report", "read_coco", "read_coralnet", "read_coralnet_label_map", "read_coralnet_points",
    "read_folder", "list_images", "read_manifest", "read_manifest_images", "read_squidle", "write_manifest",
]
