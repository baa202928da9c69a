"""CSV tables with located rows: the plumbing every CSV-based reader shares.

Headers are matched the way the annotation tools themselves match them (CoralNet: case-insensitive,
whitespace-stripped; a UTF-8 BOM is dropped), and every row remembers its spreadsheet row number
(header = 1) so that errors can point at it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..labels import TaxonomyError, split_path
from .errors import AnnotationFormatError
from .records import Geometry

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f", ""})
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def normalise_column(name: str) -> str:
    """``"  Label  Code "`` → ``"label code"``: how header cells are compared."""
    return " ".join(str(name).split()).lower()


@dataclass(frozen=True)
class Row:
    """One data row: its values by normalised column name, and where it came from."""

    file: str
    line: int
    values: Mapping[str, str]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def get(self, column: str, default: str = "") -> str:
        return self.values.get(column, default)

    def error(self, message: str, column: str | None = None) -> AnnotationFormatError:
        return AnnotationFormatError(message, self.file, self.line, column)

    def number(self, column: str) -> float:
        """A finite float from ``column``; anything else is an error naming row and column."""
        text = self.get(column)
        try:
            value = float(text)
        except ValueError:
            raise self.error(f"{text!r} is not a number", column) from None
        if not math.isfinite(value):
            raise self.error(f"{text!r} is not a finite number", column)
        return value

    def flag(self, column: str, default: bool = False) -> bool:
        """true/false/1/0/yes/no (any case); empty gives ``default``."""
        text = self.get(column).lower()
        if not text:
            return default
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise self.error(f"{self.get(column)!r} is not a boolean (use true/false, 1/0 or yes/no)", column)

    def path(self, text: str | Sequence[str], sep: str, column: str) -> tuple[str, ...]:
        """A taxon path from ``text`` split on ``sep`` (or given as names); empty components are an error."""
        try:
            return tuple(split_path(text, sep))
        except TaxonomyError:
            raise self.error(f"label path {text!r} has an empty component (separator {sep!r})", column) from None


def parse_split(row: Row, column: str) -> str | None:
    """train/val/test (also valid/validation), any case; empty means no split given."""
    value = row.get(column).lower()
    if not value:
        return None
    if value not in SPLITS:
        raise row.error(f"unknown split {row.get(column)!r}; use train, val or test", column)
    return SPLITS[value]


def read_text(path: str | Path, encoding: str = "utf-8-sig") -> str:
    """The whole file as text; missing, unreadable, empty or wrongly encoded files are errors."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise AnnotationFormatError(f"cannot read file: {err.strerror or err}", path) from None
    return decode_text(data, path, encoding)


def decode_text(data: bytes, name: object, encoding: str = "utf-8-sig") -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        raise AnnotationFormatError(
            f"not valid {encoding} text (byte {err.start}); re-save the file as UTF-8 or pass "
            "encoding=... (e.g. 'cp1252')", name) from None
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        text = text.removeprefix("\ufeff")
    if not text.strip():
        raise AnnotationFormatError("the file is empty", name)
    return text


def parse_table(
    text: str,
    name: object,
    required: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> tuple[list[str], list[Row]]:
    """Split CSV ``text`` into (normalised header, rows).

    ``aliases`` maps alternative header names to the canonical one (e.g. ``"label code"`` →
    ``"label"``). Missing required columns, duplicate columns and rows whose field count differs
    from the header are errors; blank rows are skipped but still counted, as a spreadsheet would.
    """
    aliases = {normalise_column(k): normalise_column(v) for k, v in (aliases or {}).items()}
    name = str(name)
    records = csv.reader(io.StringIO(text, newline=""))
    line = 0
    try:
        raw_header: list[str] = []
        while not any(cell.strip() for cell in raw_header):  # skip leading blank lines
            raw_header = next(records)
            line += 1
    except StopIteration:
        raise AnnotationFormatError("the file is empty", name) from None
    except csv.Error as err:
        raise AnnotationFormatError(f"malformed CSV header: {err}", name, line + 1) from None
    header_line = line
    header = [aliases.get(normalise_column(cell), normalise_column(cell)) for cell in raw_header]
    seen: set[str] = set()
    for cell in header:
        if cell and cell in seen:
            raise AnnotationFormatError(f"column {cell!r} appears twice in the header", name, header_line)
        seen.add(cell)
    missing = [col for col in required if normalise_column(col) not in seen]
    if missing:
        found = ", ".join(repr(c) for c in raw_header)
        raise AnnotationFormatError(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)} "
            f"(header has {found})", name, header_line)
    rows: list[Row] = []
    while True:
        try:
            fields = next(records)
        except StopIteration:
            break
        except csv.Error as err:
            raise AnnotationFormatError(f"malformed CSV row: {err}", name, line + 1) from None
        line += 1
        if not any(field.strip() for field in fields):
            continue
        if len(fields) != len(header):
            raise AnnotationFormatError(
                f"row has {len(fields)} fields but the header has {len(header)}", name, line)
        values = {col: field.strip() for col, field in zip(header, fields) if col}
        rows.append(Row(name, line, values))
    return header, rows


def read_csv_rows(
    path: str | Path,
    required: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
    encoding: str = "utf-8-sig",
) -> tuple[list[str], list[Row]]:
    """:func:`parse_table` on a file."""
    return parse_table(read_text(path, encoding), path, required, aliases)


def resolve_image(image_root: Path, relative: str) -> str:
    """``image_root / relative`` as a string (absolute ``relative`` paths are kept)."""
    return str(image_root / relative)


def has_image_extension(name: str, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> bool:
    lower = name.lower()
    return any(lower.endswith(ext.lower()) for ext in extensions)


def require_records(records: list, name: object, skipped: int = 0, why: str = "") -> list:
    """A reader that found nothing to train on says so instead of returning an empty list."""
    if not records:
        extra = f" ({skipped} rows skipped{': ' + why if why else ''})" if skipped else ""
        raise AnnotationFormatError(f"no annotations found{extra}", name)
    return records


def point_from_row(row: Row, x_column: str = "x", y_column: str = "y") -> Geometry | None:
    """The pixel point in two columns of ``row``, or None when both are empty.

    Args:
        row: The table row.
        x_column: Column of the x (column) pixel coordinate.
        y_column: Column of the y (row) pixel coordinate.

    Returns:
        A point geometry, or None for a whole-image row.

    Raises:
        AnnotationFormatError: If only one coordinate is given, or one is not a non-negative number.
    """
    x, y = row.get(x_column), row.get(y_column)
    if not x and not y:
        return None
    if not x or not y:
        raise row.error(f"a point needs both {x_column} and {y_column}", x_column if not x else y_column)
    coords = (row.number(x_column), row.number(y_column))
    for column, value in zip((x_column, y_column), coords):
        if value < 0:
            raise row.error(f"pixel coordinate {value:g} is negative", column)
    return Geometry("point", coords)
