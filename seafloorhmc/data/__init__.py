"""Data: annotation readers, safe image decoding, patches, transforms, datasets, synthetic data.

Importing this package (and :mod:`.records`, :mod:`.tables`, :mod:`.readers`) loads no torch, so
configs are validated and the command line answers fast.
"""

from .records import AnnotationRecord, Geometry, Sample, group_samples

__all__ = ["AnnotationRecord", "Geometry", "Sample", "group_samples"]
