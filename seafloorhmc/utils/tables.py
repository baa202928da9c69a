"""Tidy result tables as CSV: one row per run, a column per setting or metric, values typed on read.

Written atomically with the union of the rows' columns in first-seen order; read back with
numbers, booleans and empty cells (None) parsed, so a table survives a round trip unchanged.
Sweeps (:mod:`seafloorhmc.experiments`), their statistics and reports all use these two functions.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from .atomic import write_text

__all__ = ["write_table", "read_table"]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def write_table(rows: Sequence[Mapping], path: str | Path) -> Path:
    """CSV with the union of the rows' columns in first-seen order, written atomically.

    Args:
        rows: One mapping per row; a missing column is written empty.
        path: The CSV file.

    Returns:
        ``path`` as a path.
    """
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(columns))
    for row in rows:
        writer.writerow([_text(row.get(c)) for c in columns])
    return write_text(path, buffer.getvalue())


def _parse(text: str):
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def read_table(path: str | Path) -> list[dict]:
    """Rows of a results CSV with numbers, booleans and empty cells (None) parsed back.

    Args:
        path: A CSV written by :func:`write_table`.

    Returns:
        One dict per row.

    Raises:
        FileNotFoundError: If the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results table {path} does not exist; run the sweep first")
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(handle)]
