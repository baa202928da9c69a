"""The tidy results table of a sweep: one row per finished cell, rebuilt from the cells' files.

Columns, in this order: ``cell`` (folder name) and ``index`` (grid order), one column per grid
axis (``method``, ``train_fraction``, ``seed``, ...), every scalar test metric of ``metrics.json``
(nested ones flattened with dots: ``recall_by_depth.3``), the same metrics of the selected epoch on the
validation split prefixed ``val_`` (``val_f1``, ``val_recall_by_depth.4``: what defaults are chosen
on; runs written before ``metrics.json`` kept them fall back to the ``val_*`` columns of ``log.csv``
at the selected epoch), the data info (``data.train``,
``data.subset.size``, ``data.lpros.clones``, ...), ``train_seconds`` (the only timing column), and
the resolved configuration as ``config.<key>``. Rows are in grid order and the table is a pure
function of the finished cells, so a sweep that was killed and restarted writes the same table
as one that ran straight through (apart from ``train_seconds``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = ["cell_row", "collect_rows", "TIMING_COLUMNS", "timing_columns", "validation_columns"]

TIMING_COLUMNS = ("train_seconds",)
_SKIP_METRICS = ("config", "data", "per_node", "reliability", "rare_nodes", "validation")


def timing_columns(columns: Iterable[str]) -> list[str]:
    """Columns that measure time, so differ between otherwise identical runs.

    Args:
        columns: Column names.

    Returns:
        The timing columns, in the given order.
    """
    return [c for c in columns if c in TIMING_COLUMNS or c.endswith("_seconds")]


def _flatten(data: Mapping, prefix: str = "") -> dict:
    """Nested mappings → dotted keys; scalars kept, lists and arrays left out."""
    out: dict = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[name] = value
    return out


def _train_seconds(run_dir: Path) -> float | None:
    log = run_dir / "log.csv"
    if not log.is_file():
        return None
    with open(log, newline="", encoding="utf-8") as handle:
        values = [row.get("seconds") for row in csv.DictReader(handle)]
    numbers = [float(v) for v in values if v not in (None, "")]
    return round(sum(numbers), 3) if numbers else None


def _selected_epoch_log(run_dir: Path, epoch) -> dict:
    """The ``val_*`` entries of ``log.csv`` at the (1-based) selected epoch; {} without them."""
    log = run_dir / "log.csv"
    if epoch is None or not log.is_file():
        return {}
    with open(log, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if str(row.get("epoch")) == str(epoch):
                return {k: float(v) for k, v in row.items() if k.startswith("val_") and v not in (None, "")}
    return {}


def validation_columns(metrics: Mapping, run_dir: str | Path) -> dict:
    """``val_<metric>`` columns: the selected epoch's validation scores (empty without a validation split).

    Args:
        metrics: A run's ``metrics.json``.
        run_dir: The run folder (its ``log.csv`` serves runs whose metrics lack ``validation``).

    Returns:
        Column name → value.
    """
    if metrics.get("validation"):
        return _flatten(metrics["validation"], "val_")
    return _selected_epoch_log(Path(run_dir), metrics.get("selected_epoch"))


def cell_row(cell, run_dir: str | Path) -> dict | None:
    """The table row of a finished cell: its axis values, flattened metrics, config and timing.

    Args:
        cell: The grid cell (``id``, ``index``, ``values``).
        run_dir: The cell's run folder.

    Returns:
        The row, or None while its ``metrics.json`` does not exist.

    Raises:
        ValueError: ``metrics.json`` is not valid JSON (names the file).
    """
    run_dir = Path(run_dir)
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); delete the cell folder to run it again") from None
    row = {"cell": cell.id, "index": cell.index, **cell.values}
    row.update(_flatten({k: v for k, v in metrics.items() if k not in _SKIP_METRICS}))
    row.update(validation_columns(metrics, run_dir))
    row.update(_flatten(metrics.get("data") or {}, "data."))
    row["train_seconds"] = _train_seconds(run_dir)
    row.update(_flatten(metrics.get("config") or {}, "config."))
    return row


def collect_rows(cells: Sequence, runs_dir: str | Path) -> list[dict]:
    """Rows of the finished cells, in grid order.

    Args:
        cells: The grid cells.
        runs_dir: The folder holding one run folder per cell id.

    Returns:
        One row per finished cell.
    """
    rows = [cell_row(cell, Path(runs_dir) / cell.id) for cell in sorted(cells, key=lambda c: c.index)]
    return [row for row in rows if row is not None]
