"""Benchmark cases behind ``scripts/bench_*.py``: each compares a fast path with its reference."""

__all__: list[str] = []
