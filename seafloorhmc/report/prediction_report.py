"""The report of a prediction run: counts, the share needing review, and the most uncertain images.

Input is the predictions CSV of ``seafloorhmc predict`` (or its review queue): one row per image
or per point (``x``/``y``, pixels or fractions of the image size), its ``predicted`` paths
(``;``-separated), ``uncertainty``, ``needs_review``, CoralNet-style ``Machine suggestion k`` /
``Machine confidence k`` (0-100) columns and an ``error`` for images that could not be read.
Headers are matched case-insensitively; only ``image`` and an uncertainty column are required,
so the report keeps working when columns are added. The thumbnails are embedded as ``data:`` URIs: the page is
one file and can be copied or mailed without its images.
"""

from __future__ import annotations

import logging
import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from ..data.errors import AnnotationFormatError
from ..data.images import BadImageError, load_image
from ..data.tables import Row, read_csv_rows
from .html import esc, kv_table, note, page, section, table, write_html
from .thumbnails import data_uri, make_thumbnail

__all__ = ["write_prediction_report", "try_write_predict_report", "predict_report_path", "read_predictions",
           "PredictionRow", "most_uncertain"]

log = logging.getLogger(__name__)

PREDICTED_COLUMNS = ("predicted", "prediction", "predictions", "predicted_paths", "predicted paths", "labels")
REVIEW_COLUMNS = ("needs_review", "needs review")
PATH_DELIMITER = ";"
_SUGGESTION = re.compile(r"machine suggestion (\d+)$")
MAX_LABEL_ROWS = 30
MAX_ERROR_ROWS = 50


@dataclass
class PredictionRow:
    """One row of a predictions CSV, parsed; ``line`` is its spreadsheet row (header = 1)."""

    line: int
    image: str
    point: tuple[float, float] | None = None
    predicted: list[str] = field(default_factory=list)
    uncertainty: float | None = None
    needs_review: bool | None = None
    suggestions: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""


def _first(header: Sequence[str], candidates: Sequence[str]) -> str | None:
    return next((c for c in candidates if c in header), None)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(PATH_DELIMITER) if part.strip()]


def _point(row: Row) -> tuple[float, float] | None:
    if not row.get("x") and not row.get("y"):
        return None
    if not row.get("x") or not row.get("y"):
        missing = "x" if not row.get("x") else "y"
        raise row.error("a point needs both x and y (leave both empty for a whole image)", missing)
    return row.number("x"), row.number("y")


def read_predictions(predictions_csv: str | Path) -> list[PredictionRow]:
    """Parse a predictions CSV; a missing column or a bad cell is an error naming file, row and column.

    Args:
        predictions_csv: A CSV written by ``seafloorhmc predict`` (long or wide).

    Returns:
        One parsed row per data row, in file order.

    Raises:
        AnnotationFormatError: If the uncertainty column is missing or a cell cannot be read.
    """
    header, rows = read_csv_rows(predictions_csv, required=("image",))
    uncertainty = "uncertainty" if "uncertainty" in header else next(
        (c for c in header if c.startswith("uncertainty")), None)
    if uncertainty is None:
        raise AnnotationFormatError(f"no uncertainty column (header has {', '.join(repr(c) for c in header)})",
                                    predictions_csv, 1)
    predicted = _first(header, PREDICTED_COLUMNS)
    review = _first(header, REVIEW_COLUMNS)
    ranks = sorted(int(m.group(1)) for c in header if (m := _SUGGESTION.match(c)))
    parsed = []
    for row in rows:
        error = row.get("error")
        item = PredictionRow(line=row.line, image=row.get("image"), error=error)
        if not item.image:
            raise row.error("empty image path", "image")
        if "x" in header and "y" in header:
            item.point = _point(row)
        item.predicted = _split(row.get(predicted)) if predicted else []
        if row.get(uncertainty) or not error:
            item.uncertainty = row.number(uncertainty)
        if review and row.get(review):
            item.needs_review = row.flag(review)
        item.suggestions = [(row.get(f"machine suggestion {k}"), row.get(f"machine confidence {k}"))
                            for k in ranks if row.get(f"machine suggestion {k}")]
        parsed.append(item)
    if not parsed:
        raise AnnotationFormatError("no prediction rows", predictions_csv)
    return parsed


def most_uncertain(rows: Sequence[PredictionRow], top: int) -> list[PredictionRow]:
    """The ``top`` rows with the highest uncertainty (ties keep file order); rows without one are skipped.

    Args:
        rows: Parsed prediction rows.
        top: How many to keep.

    Returns:
        At most ``top`` rows, most uncertain first.
    """
    ranked = [r for r in rows if r.uncertainty is not None and math.isfinite(r.uncertainty)]
    return sorted(ranked, key=lambda r: -cast(float, r.uncertainty))[:max(0, int(top))]  # finite: filtered above


def _resolve_image(image: str, csv_dir: Path, image_root: Path | None) -> tuple[Path, list[Path]]:
    path = Path(image)
    if path.is_absolute():
        return path, [path]
    candidates = ([image_root / path] if image_root is not None else []) + [csv_dir / path, Path.cwd() / path]
    return next((c for c in candidates if c.is_file()), candidates[0]), candidates


def _thumbnails(rows: Sequence[PredictionRow], csv_dir: Path, image_root: Path | None, patch_size: int,
                normalised: bool) -> dict[int, tuple[str | None, str | None]]:
    """Line → (data URI, problem); each image is decoded once, one at a time, whatever its row count."""
    out: dict[int, tuple[str | None, str | None]] = {}
    by_image: dict[str, list[PredictionRow]] = {}
    for row in rows:
        by_image.setdefault(row.image, []).append(row)
    for image, group in by_image.items():
        path, candidates = _resolve_image(image, csv_dir, image_root)
        try:
            pixels = load_image(path)
        except BadImageError as err:
            looked = f" (looked in {', '.join(str(c.parent) for c in candidates)})" if len(candidates) > 1 else ""
            problem = f"{err.reason}: {path}{looked}"
            out.update({r.line: (None, problem) for r in group})
            continue
        height, width = pixels.shape[:2]
        for row in group:
            point = row.point
            if point is not None and normalised:
                point = (point[0] * width, point[1] * height)
            try:
                out[row.line] = (data_uri(make_thumbnail(pixels, point, patch_size)), None)
            except ValueError as err:
                out[row.line] = (None, f"row {row.line}: {err}")
    return out


def _counts(rows: Sequence[PredictionRow]) -> str:
    n = len(rows)
    flagged = [r.needs_review for r in rows if r.needs_review is not None]
    values = [r.uncertainty for r in rows if r.uncertainty is not None and math.isfinite(r.uncertainty)]
    pairs: list[tuple[str, object]] = [
        ("rows", n),
        ("images", len({r.image for r in rows})),
        ("point rows (x, y)", sum(r.point is not None for r in rows)),
        ("rows with an error", sum(bool(r.error) for r in rows)),
        ("rows with an uncertainty", len(values)),
    ]
    if flagged:  # share of the rows that got a verdict (unreadable images have none)
        share = sum(flagged) / len(flagged)
        pairs += [("needs review", sum(flagged)),
                  ("needs review share", f"{100 * share:.1f} % of {len(flagged)} predicted rows")]
    if values:
        pairs += [("uncertainty mean", statistics.fmean(values)), ("uncertainty median", statistics.median(values)),
                  ("uncertainty max", max(values))]
    parts = [kv_table(pairs, table_id="counts", caption="counts")]
    labels = Counter(p for r in rows if not r.error for p in (r.predicted or ["(nothing predicted)"]))
    if labels:
        common = labels.most_common(MAX_LABEL_ROWS)
        caption = "predicted paths" + (f" (top {MAX_LABEL_ROWS} of {len(labels)})" if len(labels) > len(common) else "")
        parts.append(table(("predicted path", "rows"), common, table_id="predicted-counts", caption=caption))
    return section("Summary", '<div class="row">' + "\n".join(parts) + "</div>", section_id="summary")


def _percent(confidence: str) -> str:
    """CoralNet-style confidences are integers 0-100: show them as percentages, anything else as is."""
    return f"{confidence} %" if confidence.isdigit() and int(confidence) <= 100 else confidence


def _card(rank: int, row: PredictionRow, thumb: tuple[str | None, str | None]) -> str:
    uri, problem = thumb
    name = Path(row.image).name
    if uri:
        picture = f'<img src="{uri}" alt="{esc(name)}">'
    else:
        picture = f'<div class="thumb-missing">no thumbnail: {esc(problem)}</div>'
    where = f" at x={row.point[0]:g}, y={row.point[1]:g}" if row.point is not None else ""
    badge = ""
    if row.needs_review is not None:
        badge = ('<span class="badge review">needs review</span>' if row.needs_review
                 else '<span class="badge ok">confident</span>')
    paths = "".join(f"<li>{esc(p)}</li>" for p in row.predicted)
    paths = f'predicted:<ul class="predicted">{paths}</ul>' if paths else '<p class="note">nothing predicted</p>'
    suggestions = ""
    if row.suggestions:
        items = "".join(f"<li>{esc(s)}{f' <b>{esc(_percent(c))}</b>' if c else ''}</li>"
                        for s, c in row.suggestions[:3])
        suggestions = f"<div>machine suggestions:<ul>{items}</ul></div>"
    return (f'<div class="card" id="row-{row.line}">{picture}'
            f'<div class="name" title="{esc(row.image)}">#{rank} {esc(name)}{esc(where)}</div>'
            f'<div>uncertainty <b class="uncertainty">{row.uncertainty:.4f}</b> {badge}</div>'
            f"{paths}{suggestions}<div class=\"note\">CSV row {row.line}</div></div>")


def _errors(rows: Sequence[PredictionRow]) -> str | None:
    failed = [r for r in rows if r.error]
    if not failed:
        return None
    shown = failed[:MAX_ERROR_ROWS]
    text = f"{len(failed)} row{'s' if len(failed) != 1 else ''} could not be predicted"
    text += f"; the first {len(shown)} are listed." if len(failed) > len(shown) else "."
    listed = [(r.line, r.image, r.error) for r in shown]
    return section("Errors", note(text), table(("CSV row", "image", "error"), listed, table_id="errors"),
                   section_id="errors-section")


def _settings(settings: Sequence[tuple[str, str]] | None) -> str:
    """Which model, uncertainty and thresholds made the file, and what the review threshold guarantees."""
    if not settings:
        return ""
    text = ("A predicted taxon needs review when its uncertainty exceeds the review threshold, and a row when one of "
            "its taxa does (the to_review column names them). The threshold is chosen on the model's validation split "
            "at the end of training, so that the predicted taxa it does not flag reach a target precision (the share "
            "of them that are truly there).")
    return section("Model and review flag", note(text), kv_table(list(settings), table_id="settings"),
                   section_id="settings-section")


def write_prediction_report(predictions_csv: str | Path, out_html: str | Path, top: int = 24,
                            image_root: str | Path | None = None, patch_size: int = 224,
                            normalised: bool | None = None,
                            settings: Sequence[tuple[str, str]] | None = None) -> Path:
    """Write a one-file HTML report of a predictions CSV, to see what needs review at a glance.

    Shows which model, uncertainty and thresholds made the file and what the review threshold
    guarantees on validation (``settings``), the counts, the share of rows that need review, the
    most frequent predicted paths, the ``top`` most uncertain rows as thumbnails with their
    predicted paths and uncertainty, and the rows that failed. A thumbnail that cannot be made is
    shown as such (and logged), never an error.

    Args:
        predictions_csv: The predictions CSV.
        out_html: The report file (``.html``).
        top: How many of the most uncertain rows to show.
        image_root: Relative image paths are looked up here, then next to the CSV, then in the
            working directory.
        patch_size: Side of the patch shown around a point.
        normalised: x/y are fractions of the image size; None decides from the file (every point
            within [0, 1]).
        settings: (what, value) pairs of the run that wrote the CSV
            (:attr:`seafloorhmc.prediction.PredictSummary.settings`); None: not shown.

    Returns:
        ``out_html`` as a path.

    Raises:
        ValueError: If ``out_html`` does not end in .html.
    """
    predictions_csv, out_html = Path(predictions_csv), Path(out_html)
    if out_html.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"report path {out_html} must end in .html")
    rows = read_predictions(predictions_csv)
    points = [r.point for r in rows if r.point is not None]
    if normalised is None:
        normalised = bool(points) and all(0 <= v <= 1 for p in points for v in p)
    chosen = most_uncertain(rows, top)
    thumbs = _thumbnails(chosen, predictions_csv.parent, None if image_root is None else Path(image_root),
                         patch_size, normalised)
    problems = [p for _, p in thumbs.values() if p]
    if problems:
        log.warning("prediction report %s: %d of %d thumbnails could not be made (first: %s)", out_html,
                    len(problems), len(chosen), problems[0])
    cards = "".join(_card(i + 1, r, thumbs[r.line]) for i, r in enumerate(chosen))
    explain = (f"The {len(chosen)} rows with the highest uncertainty, most uncertain first"
               + (f" (point rows: {patch_size}-pixel patch around the point, ringed)" if points else "") + ".")
    uncertain = section("Most uncertain", note(explain), f'<div class="cards">{cards}</div>' if cards
                        else note("No row has an uncertainty value."), section_id="most-uncertain")
    subtitle = f"{predictions_csv.resolve()} · {len(rows)} rows"
    text = page(f"Prediction report — {predictions_csv.name}", subtitle, _settings(settings), _counts(rows), uncertain,
                _errors(rows) or "")
    return write_html(out_html, text)


def predict_report_path(predictions_csv: str | Path) -> Path:
    """Where ``seafloorhmc predict`` writes its report: ``predictions.csv`` → ``predictions.html``.

    ``x.html`` → ``x.report.html``: the report never replaces the predictions.

    Args:
        predictions_csv: The predictions file.

    Returns:
        The HTML report's path beside it.
    """
    path = Path(predictions_csv)
    if path.suffix.lower() in (".html", ".htm"):
        return path.with_name(f"{path.name}.report.html")
    return path.with_suffix(".html")


def try_write_predict_report(predictions_csv: str | Path, source: str | Path, root: str | Path | None = None,
                             checkpoint: str | Path | None = None, top: int = 24,
                             settings: Sequence[tuple[str, str]] | None = None) -> Path | None:
    """The report at the end of ``seafloorhmc predict``, next to its CSV.

    Knows predict's conventions, so thumbnails find their images and cut the patch the model saw.
    A problem is logged, never raised, because the predictions themselves are already written.

    Args:
        predictions_csv: The predictions CSV just written.
        source: predict's input: a folder (image names are relative to it) or a file.
        root: Folder the input file's image names are relative to (default: the file's folder).
        checkpoint: The model used; its ``data.patch_size`` is the patch shown (224 without).
        top: How many of the most uncertain rows to show.
        settings: The model, uncertainty and thresholds predict used, shown at the top.

    Returns:
        The report's path, or None on a problem.
    """
    source = Path(source)
    image_root = source if source.is_dir() else Path(root) if root else source.parent
    out = predict_report_path(predictions_csv)
    try:
        patch_size = 224
        if checkpoint is not None:
            from ..models.persistence import read_info

            patch_size = read_info(checkpoint).config.data.patch_size
        return write_prediction_report(predictions_csv, out, top=top, image_root=image_root, patch_size=patch_size,
                                       normalised=False, settings=settings)
    except Exception as err:  # noqa: BLE001 - the report is a by-product of finished predictions
        log.warning("could not write the prediction report %s: %s: %s", out, type(err).__name__, err)
        return None
