"""One entry point for ``seafloorhmc report PATH``: decide from the path which report to write."""

from __future__ import annotations

from pathlib import Path

from ..data.tables import read_csv_rows, stream_csv_rows
from .prediction_report import write_prediction_report
from .run_report import write_run_report
from .sweep_report import write_sweep_report

__all__ = ["write_report", "report_path", "SWEEP_RESULTS"]

SWEEP_RESULTS = "results.csv"


# the x axis of a sweep table, by preference: sweeps name the column after the axis they vary
SWEEP_X_COLUMNS = ("fraction", "train_fraction", "train_count", "noise_alpha", "members")


def _sweep_report(results_csv: Path, header, out: Path) -> Path:
    x = next((c for c in SWEEP_X_COLUMNS if c in header), None)
    if x is None:
        raise ValueError(f"{results_csv}: a sweep table needs one of the columns {', '.join(SWEEP_X_COLUMNS)} "
                         f"for its x axis; header has {', '.join(map(repr, header))}")
    return write_sweep_report(results_csv, out, x=x)


def report_path(path: str | Path, out: str | Path | None = None) -> Path | None:
    """The HTML file :func:`write_report` would write for ``path`` (None when it would refuse ``path``).

    Lets a caller refuse to replace an existing report before building a new one.

    Args:
        path: As for :func:`write_report`.
        out: As for :func:`write_report`.

    Returns:
        The report's path.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "metrics.json").is_file():
            return path / "report.html" if out is None else None  # a run's report has no --out
        return Path(out or path) / "report.html" if (path / SWEEP_RESULTS).is_file() else None
    if not path.is_file() or path.suffix.lower() != ".csv":
        return None
    header, _ = stream_csv_rows(path)  # the header only
    if "method" in header and any(x in header for x in SWEEP_X_COLUMNS):
        return Path(out or path.parent) / "report.html"
    return Path(out) if out else path.with_suffix(".html")


def write_report(path: str | Path, out: str | Path | None = None, top: int = 24,
                 image_root: str | Path | None = None) -> Path:
    """(Re)build the report of ``path``, whichever kind it is (the ``seafloorhmc report`` command).

    * a run folder (has ``metrics.json``) → :func:`write_run_report` (``out`` is not used)
    * a sweep folder (has ``results.csv``) or a CSV with ``method`` and ``fraction`` columns →
      :func:`write_sweep_report` into ``out`` (default: the CSV's folder)
    * any other CSV with an ``image`` column → :func:`write_prediction_report` to ``out``
      (default: the CSV with ``.html`` instead of ``.csv``)

    Args:
        path: A run folder, a sweep folder, a sweep results CSV or a predictions CSV.
        out: Where to write (see above); must be None for a run folder.
        top: Most uncertain images shown in a prediction report.
        image_root: Folder that a predictions CSV's relative image paths are relative to.

    Returns:
        The HTML file written.

    Raises:
        FileNotFoundError: If ``path`` does not exist or a folder is neither a run nor a sweep.
        ValueError: If ``out`` is given for a run folder or the CSV is of no known kind.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "metrics.json").is_file():
            if out is not None:
                raise ValueError("a run report is always written into the run folder; drop --out")
            return write_run_report(path)
        if (path / SWEEP_RESULTS).is_file():
            path = path / SWEEP_RESULTS
            header, _ = read_csv_rows(path)
            return _sweep_report(path, header, Path(out or path.parent))
        raise FileNotFoundError(f"{path} is neither a finished run (no metrics.json) nor a sweep (no {SWEEP_RESULTS})")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix.lower() != ".csv":
        raise ValueError(f"{path}: expected a run folder, a sweep folder, a sweep results CSV or a predictions CSV")
    header, _ = read_csv_rows(path)
    if "method" in header and any(x in header for x in SWEEP_X_COLUMNS):
        return _sweep_report(path, header, Path(out or path.parent))
    if "image" in header:
        return write_prediction_report(path, out or path.with_suffix(".html"), top=top, image_root=image_root)
    raise ValueError(f"{path}: neither a sweep results CSV (method, fraction columns) nor a predictions CSV "
                     f"(image column); header has {', '.join(map(repr, header))}")
