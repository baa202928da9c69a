"""The data-format registry: one entry per source of labelled data, declared by its reader module.

Each reader module (``seafloorhmc/data/readers/<format>.py``) registers a :class:`DataFormat` in
:data:`FORMATS` saying which ``data.*`` config keys it reads and how they map to its reader's
arguments, whether it needs an annotations file, and whether it carries points or shapes. Config
validation, the command line's choices and ``seafloorhmc predict``'s inputs are derived from these
entries, so adding a format is one module (and its test). Import :mod:`seafloorhmc.data.readers`
to have every built-in format registered; nothing here loads torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..registry import Registry
from .records import AnnotationRecord, Geometry

__all__ = ["DataFormat", "UnlabelledItem", "FORMATS"]

#: (file to open, name as the input wrote it, place in the image or None for the whole image)
UnlabelledItem = tuple[str, str, "Geometry | None"]


@dataclass(frozen=True)
class DataFormat:
    """What a data format reads and how a configuration drives it.

    Attributes:
        name: The value of ``data.format``.
        summary: One line for ``seafloorhmc keys`` and the docs.
        read: ``read(source, **options)`` → annotation records (None for feature data).
        source: The ``data.*`` key naming the input (``annotations``: an export file; ``root``: a
            folder).
        options: Reader keyword → ``data.*`` key it is read from.
        required: ``data.*`` keys that must be set, with what to put there (the source key, when
            required, is listed here too).
        geometry: Whether the format carries points or shapes (patches around annotations).
        features: Whether it yields feature vectors instead of images (the HMC benchmarks).
        prepare: Run once, on the main process, before reading (the synthetic data is generated
            here), with the same options as ``read``.
        label_tree: Given the options, the label-tree file the format brings itself (if any).
        read_unlabelled: ``read_unlabelled(source, image_root=...)`` → items to predict on, for
            inputs that need no labels (a CSV of images or points, a folder).
        predict_input: Whether ``seafloorhmc predict`` accepts it.
    """

    name: str
    summary: str
    read: Callable[..., list[AnnotationRecord]] | None = None
    source: Literal["annotations", "root"] = "annotations"
    options: Mapping[str, str] = field(default_factory=dict)
    required: Mapping[str, str] = field(default_factory=dict)
    geometry: bool = False
    features: bool = False
    prepare: Callable[..., None] | None = None
    label_tree: Callable[..., str | None] | None = None
    read_unlabelled: Callable[..., list[UnlabelledItem]] | None = None
    predict_input: bool = True

    def reader_options(self, values: Mapping[str, Any] | Any) -> dict[str, Any]:
        """The reader's keyword arguments from ``data.*`` values.

        Args:
            values: A ``DataConfig`` or a mapping of ``data.*`` key → value.

        Returns:
            Reader keyword → value, for every option this format declares.
        """
        get = values.get if isinstance(values, Mapping) else (lambda key, default=None: getattr(values, key, default))
        return {keyword: get(key) for keyword, key in self.options.items()}

    def grouping(self, group_by: str) -> str:
        """What one sample is under ``data.group_by``.

        ``auto`` → one patch per annotation when the format carries points or shapes
        (``annotation``), whole images otherwise (``image``); an explicit choice is kept.

        Args:
            group_by: ``auto``, ``image`` or ``annotation``.

        Returns:
            ``image`` or ``annotation``.
        """
        if group_by == "auto":
            return "annotation" if self.geometry else "image"
        return group_by

    def missing(self, values: Mapping[str, Any] | Any) -> list[tuple[str, str]]:
        """The required ``data.*`` keys left empty, so config validation can name what to set.

        Args:
            values: The ``data`` section as a mapping or an object with the keys as attributes.

        Returns:
            ``(key, what to set)`` for each required key that is empty in ``values``.
        """
        get = values.get if isinstance(values, Mapping) else (lambda key, default=None: getattr(values, key, default))
        return [(key, hint) for key, hint in self.required.items() if not get(key)]


FORMATS: Registry[DataFormat] = Registry("data format")
