"""One record type for every annotation format, and the samples a dataset trains on.

Readers turn exports (folder trees, CSV manifests, BIIGLE, SQUIDLE+, CoralNet, BenthicNet) into
:class:`AnnotationRecord` objects: an image, an optional geometry, a taxon path from the root to
the deepest known node, and whether the annotator went as deep as the taxonomy goes. Datasets then
group records into :class:`Sample` objects: whole images with all their labels, or one patch per
point/box annotation. The classes use ``__slots__``: an export of a million points becomes a
million records, and a per-instance ``__dict__`` would add about a quarter to each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..labels import PATH_ID_SEP

__all__ = ["GEOMETRY_KINDS", "Geometry", "AnnotationRecord", "Sample", "group_samples"]

GEOMETRY_KINDS = ("whole", "point", "box", "circle", "polygon", "line")


@dataclass(frozen=True, slots=True)
class Geometry:
    """Where in the image an annotation lies.

    ``coords`` are (x, y) pixel pairs (x = column, 0 = left; y = row, 0 = top), or fractions of
    width/height when ``normalised``. point: (x, y); box: (x0, y0, x1, y1); circle: (x, y, r);
    polygon/line: (x1, y1, x2, y2, ...).
    """

    kind: str
    coords: tuple[float, ...] = ()
    normalised: bool = False

    def __post_init__(self) -> None:
        if self.kind not in GEOMETRY_KINDS:
            raise ValueError(f"unknown geometry kind {self.kind!r}; choose one of {', '.join(GEOMETRY_KINDS)}")

    def centre(self, width: int | None = None, height: int | None = None) -> tuple[float, float] | None:
        """Centre in pixels, where a patch is cut around.

        Args:
            width: Image width in pixels (needed when the coordinates are normalised).
            height: Image height in pixels (needed when the coordinates are normalised).

        Returns:
            ``(x, y)``, or None for whole-image labels.

        Raises:
            ValueError: The geometry is normalised and the image size is missing.
        """
        if self.kind == "whole" or not self.coords:
            return None
        xs, ys = self.coords[0::2], self.coords[1::2]
        if self.kind == "circle":
            xs, ys = self.coords[:1], self.coords[1:2]
        x, y = sum(xs) / len(xs), sum(ys) / len(ys)
        if self.normalised:
            if width is None or height is None:
                raise ValueError("a normalised geometry needs the image size")
            x, y = x * width, y * height
        return x, y


@dataclass(frozen=True, slots=True)
class AnnotationRecord:
    """One label on one image (or one place in it), whatever format it came from.

    ``path`` runs from the root to the deepest node the annotator gave. With ``complete=False``
    (the default) a label that stops at an inner node means "somewhere below here, not sure
    where": the node's descendants are masked from loss and metrics instead of counted as
    negatives. ``complete=True`` asserts that no finer label applies.
    ``where`` names the source file and row, for error messages.
    """

    image: str
    path: tuple[str, ...]
    complete: bool = False
    geometry: Geometry | None = None
    source: str = ""
    where: str = ""
    annotator: str | None = None
    split: str | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def label_id(self) -> str:
        """The taxonomy node id of this label ("/"-joined path)."""
        return PATH_ID_SEP.join(self.path)


@dataclass(frozen=True, slots=True)
class Sample:
    """What a dataset yields one item for: an image (or a patch of it) with all its labels."""

    image: str
    labels: tuple[str, ...]
    complete: tuple[bool, ...]
    geometry: Geometry | None = None
    split: str | None = None
    where: str = ""


def group_samples(records: Iterable[AnnotationRecord], by: str = "image") -> list[Sample]:
    """Records → samples.

    ``by="image"``: one multi-label sample per image (geometry ignored). ``by="annotation"``: one
    sample per record with a geometry (a point or box patch); records without geometry stay whole
    images, merged per image. Order follows first appearance.

    Args:
        records: The annotation records.
        by: ``"image"`` or ``"annotation"``.

    Returns:
        The samples.

    Raises:
        ValueError: ``by`` is invalid, or one image is given two different splits (names both rows).
    """
    if by not in ("image", "annotation"):
        raise ValueError(f"group samples by 'image' or 'annotation', got {by!r}")
    merged: dict[tuple, dict] = {}
    for rec in records:
        geometry = rec.geometry if by == "annotation" and rec.geometry and rec.geometry.kind != "whole" else None
        key = (rec.image, geometry)
        entry = merged.setdefault(key, {"labels": {}, "split": rec.split, "where": rec.where})
        previous = entry["labels"].get(rec.label_id)
        entry["labels"][rec.label_id] = rec.complete if previous is None else (previous or rec.complete)
        if rec.split and entry["split"] and rec.split != entry["split"]:
            raise ValueError(f"{rec.where}: image {rec.image!r} is in split {rec.split!r} here but "
                             f"{entry['split']!r} at {entry['where']}")
        entry["split"] = entry["split"] or rec.split
    return [
        Sample(image=image, labels=tuple(e["labels"]), complete=tuple(e["labels"].values()),
               geometry=geometry, split=e["split"], where=e["where"])
        for (image, geometry), e in merged.items()
    ]
