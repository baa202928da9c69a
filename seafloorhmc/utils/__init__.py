"""Small helpers shared across the package (atomic files, seeding, benchmarking, result tables)."""

__all__: list[str] = []
