"""Annotation readers: each turns one tool's export into :class:`~seafloorhmc.data.records.AnnotationRecord` s.

Configs name a format; :func:`read_annotations` dispatches through :data:`READERS`. Every reader
resolves image paths to strings, sets ``source`` to its format name and ``where`` to ``file:row``
(spreadsheet row numbers, header = 1), and raises :class:`AnnotationFormatError` naming the file,
row and column of bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..records import AnnotationRecord
from .benthicnet import read_benthicnet
from .biigle import read_biigle_label_tree, read_biigle_report
from .coralnet import read_coralnet, read_coralnet_label_map
from .errors import AnnotationFormatError
from .folder import read_folder
from .manifest import read_manifest, write_manifest
from .squidle import read_squidle

READERS: dict[str, Callable[..., list[AnnotationRecord]]] = {
    "folder": read_folder,
    "manifest": read_manifest,
    "biigle": read_biigle_report,
    "squidle": read_squidle,
    "coralnet": read_coralnet,
    "benthicnet": read_benthicnet,
}


def read_annotations(fmt: str, path: str | Path, **options) -> list[AnnotationRecord]:
    """Read ``path`` with the reader registered for ``fmt`` (case-insensitive)."""
    reader = READERS.get(str(fmt).strip().lower())
    if reader is None:
        raise ValueError(f"unknown annotation format {fmt!r}; valid formats: {', '.join(sorted(READERS))}")
    return reader(path, **options)


__all__ = [
    "READERS", "AnnotationFormatError", "read_annotations", "read_benthicnet", "read_biigle_label_tree",
    "read_biigle_report", "read_coralnet", "read_coralnet_label_map", "read_folder", "read_manifest",
    "read_squidle", "write_manifest",
]
