"""Data: annotation readers, safe image decoding, patches, transforms, datasets, synthetic data."""

from .records import AnnotationRecord, Geometry, Sample, group_samples, taxonomy_from_records

__all__ = ["AnnotationRecord", "Geometry", "Sample", "group_samples", "taxonomy_from_records"]
