"""CSV tables with located rows: the plumbing every CSV-based reader shares.

Headers are matched the way the annotation tools themselves match them (CoralNet: case-insensitive,
whitespace-stripped; a UTF-8 BOM is dropped), and every row remembers its spreadsheet row number
(header = 1) so that errors can point at it.

Tables are streamed: :func:`stream_csv_rows` checks the header at once and then yields one
:class:`Row` at a time from the open file, so a reader's memory grows with the records it keeps,
not with the file (a 1,000,000-row CoralNet export is read without holding its text or its rows;
``scripts/bench_load.py`` measures it). :func:`read_csv_rows` is the same, collected into a list.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..labels import TaxonomyError, split_path
from .errors import AnnotationFormatError
from .records import Geometry

__all__ = ["Row", "normalise_column", "parse_split", "read_text", "decode_text", "parse_table", "stream_csv_rows",
           "read_csv_rows", "resolve_image", "has_image_extension", "require_records", "point_from_row",
           "TRUE_WORDS", "FALSE_WORDS", "IMAGE_EXTENSIONS", "SPLITS"]

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f", ""})
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def normalise_column(name: str) -> str:
    """``"  Label  Code "`` → ``"label code"``: how header cells are compared.

    Args:
        name: A header cell.

    Returns:
        The normalised name.
    """
    return " ".join(str(name).split()).lower()


@dataclass(frozen=True)
class Row:
    """One data row: its values by normalised column name, and where it came from."""

    file: str
    line: int
    values: Mapping[str, str]

    @property
    def where(self) -> str:
        """``file:row``, for messages and records."""
        return f"{self.file}:{self.line}"

    def get(self, column: str, default: str = "") -> str:
        """The value of a (normalised) column.

        Args:
            column: The column.
            default: What an absent column gives.

        Returns:
            The stripped cell text.
        """
        return self.values.get(column, default)

    def error(self, message: str, column: str | None = None) -> AnnotationFormatError:
        """An error about this row (and a column of it).

        Args:
            message: What is wrong.
            column: The column at fault.

        Returns:
            The error, to raise.
        """
        return AnnotationFormatError(message, self.file, self.line, column)

    def number(self, column: str) -> float:
        """A finite float from ``column``; anything else is an error naming row and column.

        Args:
            column: The column.

        Returns:
            The number.

        Raises:
            AnnotationFormatError: If the cell is not a finite number.
        """
        text = self.get(column)
        try:
            value = float(text)
        except ValueError:
            raise self.error(f"{text!r} is not a number", column) from None
        if not math.isfinite(value):
            raise self.error(f"{text!r} is not a finite number", column)
        return value

    def flag(self, column: str, default: bool = False) -> bool:
        """true/false/1/0/yes/no (any case); empty gives ``default``.

        Args:
            column: The column.
            default: The value of an empty cell.

        Returns:
            The flag.

        Raises:
            AnnotationFormatError: If the cell is not a boolean.
        """
        text = self.get(column).lower()
        if not text:
            return default
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise self.error(f"{self.get(column)!r} is not a boolean (use true/false, 1/0 or yes/no)", column)

    def path(self, text: str | Sequence[str], sep: str, column: str) -> tuple[str, ...]:
        """A taxon path from ``text`` split on ``sep`` (or given as names); empty components are an error.

        Args:
            text: The path as written, or its names.
            sep: The separator.
            column: The column it came from (for the error).

        Returns:
            The names from the root down.

        Raises:
            AnnotationFormatError: If a component is empty.
        """
        try:
            return tuple(split_path(text, sep))
        except TaxonomyError:
            raise self.error(f"label path {text!r} has an empty component (separator {sep!r})", column) from None


def parse_split(row: Row, column: str) -> str | None:
    """train/val/test (also valid/validation), any case; empty means no split given.

    Args:
        row: The table row.
        column: The split column.

    Returns:
        ``train``, ``val``, ``test`` or None.

    Raises:
        AnnotationFormatError: For another value.
    """
    value = row.get(column).lower()
    if not value:
        return None
    if value not in SPLITS:
        raise row.error(f"unknown split {row.get(column)!r}; use train, val or test", column)
    return SPLITS[value]


def read_text(path: str | Path, encoding: str = "utf-8-sig") -> str:
    """The whole file as text; missing, unreadable, empty or wrongly encoded files are errors.

    Args:
        path: The file.
        encoding: Its text encoding.

    Returns:
        The text (a UTF-8 BOM dropped).

    Raises:
        AnnotationFormatError: Naming the file and the problem.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise AnnotationFormatError(f"cannot read file: {err.strerror or err}", path) from None
    return decode_text(data, path, encoding)


def _encoding_error(encoding: str, where: str = "") -> str:
    return f"not valid {encoding} text{where}; re-save the file as UTF-8 or pass encoding=... (e.g. 'cp1252')"


def decode_text(data: bytes, name: object, encoding: str = "utf-8-sig") -> str:
    """Bytes as text; wrongly encoded or empty content is an error.

    Args:
        data: The content.
        name: What to call it in errors (a file name).
        encoding: Its text encoding.

    Returns:
        The text (a UTF-8 BOM dropped).

    Raises:
        AnnotationFormatError: Naming the file and the problem.
    """
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        raise AnnotationFormatError(_encoding_error(encoding, f" (byte {err.start})"), name) from None
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        text = text.removeprefix("\ufeff")
    if not text.strip():
        raise AnnotationFormatError("the file is empty", name)
    return text


def parse_table(
    text: str | TextIO,
    name: object,
    required: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
    encoding: str = "utf-8",
) -> tuple[list[str], Iterator[Row] | list[Row]]:
    """Split CSV ``text`` (or a text stream) into (normalised header, rows).

    ``aliases`` maps alternative header names to the canonical one (e.g. ``"label code"`` →
    ``"label"``). Missing required columns, duplicate columns and rows whose field count differs
    from the header are errors; blank rows are skipped but still counted, as a spreadsheet would.

    Args:
        text: The CSV text, or an open text stream (read lazily, row by row).
        name: What to call it in errors (a file name).
        required: Columns that must be present.
        aliases: Alternative header names → canonical ones.
        encoding: The stream's encoding, named when its bytes do not decode.

    Returns:
        (header, rows): a list of rows for text, an iterator for a stream. The header is checked
        before this returns; row errors are raised as the rows are reached.

    Raises:
        AnnotationFormatError: Naming the file, row and column of the first problem.
    """
    stream = io.StringIO(text, newline="") if isinstance(text, str) else text
    header, rows = _table(csv.reader(stream), str(name), required, aliases, encoding)
    return (header, list(rows)) if isinstance(text, str) else (header, rows)


def _table(records: Iterator[list[str]], name: str, required: Iterable[str], aliases: Mapping[str, str] | None,
           encoding: str) -> tuple[list[str], Iterator[Row]]:
    aliases = {normalise_column(k): normalise_column(v) for k, v in (aliases or {}).items()}
    line = 0

    def advance() -> list[str]:
        try:
            return next(records)
        except csv.Error as err:
            raise AnnotationFormatError(f"malformed CSV row: {err}", name, line + 1) from None
        except UnicodeDecodeError:
            raise AnnotationFormatError(_encoding_error(encoding), name, line + 1) from None

    raw_header: list[str] = []
    try:
        while not any(cell.strip() for cell in raw_header):  # skip leading blank lines
            raw_header = advance()
            line += 1
    except StopIteration:
        raise AnnotationFormatError("the file is empty", name) from None
    header_line = line
    if raw_header and raw_header[0].startswith("\ufeff"):
        raw_header[0] = raw_header[0][1:]
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
    columns = [(i, col) for i, col in enumerate(header) if col]
    width = len(header)

    def rows() -> Iterator[Row]:
        nonlocal line
        while True:
            try:
                fields = advance()
            except StopIteration:
                return
            line += 1
            if not any(field.strip() for field in fields):
                continue
            if len(fields) != width:
                raise AnnotationFormatError(f"row has {len(fields)} fields but the header has {width}", name, line)
            yield Row(name, line, {col: fields[i].strip() for i, col in columns})

    return header, rows()


def _bad_byte_line(path: Path, encoding: str) -> int | None:
    """The line of the first byte ``encoding`` cannot decode (read again only when decoding failed).

    ASCII-compatible encodings are decoded line by line; others cannot be split on newline bytes,
    so their bad byte is not placed (None).
    """
    encoder = codecs.getincrementalencoder(encoding)()
    encoder.encode("x")  # past a byte-order mark
    if encoder.encode("\n") != b"\n":
        return None
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as handle:
        for line, raw in enumerate(handle, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError:
                return line
    return None


def _text_lines(handle: TextIO, encoding: str, path: Path) -> Iterator[str]:
    """The file's lines, decoded by the io layer; a bad byte is an error naming its line.

    Decoding stays in C for speed; only when it fails is the file read again, line by line, to
    find the line that holds the bad byte.
    """
    try:
        yield from handle
    except UnicodeDecodeError:
        raise AnnotationFormatError(_encoding_error(encoding), path, _bad_byte_line(path, encoding)) from None


def stream_csv_rows(
    path: str | Path,
    required: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
    encoding: str = "utf-8-sig",
) -> tuple[list[str], Iterator[Row]]:
    """Open a CSV file, check its header, and yield its rows one at a time (module docstring).

    The file is closed when the rows are exhausted (or the iterator is discarded).

    Args:
        path: The CSV file.
        required: Columns that must be present.
        aliases: Alternative header names → canonical ones.
        encoding: Its text encoding (a UTF-8 BOM is dropped).

    Returns:
        (normalised header, iterator of rows).

    Raises:
        AnnotationFormatError: For a missing, unreadable or empty file or a bad header at once;
            for a bad row when the iteration reaches it.
    """
    path = Path(path)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise AnnotationFormatError(f"unknown text encoding {encoding!r}", path) from None
    try:
        handle = open(path, encoding=encoding, newline="")  # noqa: SIM115 - closed by the row iterator
    except OSError as err:
        raise AnnotationFormatError(f"cannot read file: {err.strerror or err}", path) from None
    try:
        header, rows = _table(csv.reader(_text_lines(handle, encoding, path)), str(path), required, aliases, encoding)
    except BaseException:
        handle.close()
        raise

    def closing() -> Iterator[Row]:
        with handle:
            yield from rows

    return header, closing()


def read_csv_rows(
    path: str | Path,
    required: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
    encoding: str = "utf-8-sig",
) -> tuple[list[str], list[Row]]:
    """:func:`stream_csv_rows`, collected into a list (for small tables such as label maps).

    Args:
        path: The CSV file.
        required: Columns that must be present.
        aliases: Alternative header names → canonical ones.
        encoding: Its text encoding (a UTF-8 BOM is dropped).

    Returns:
        (normalised header, rows).
    """
    header, rows = stream_csv_rows(path, required, aliases, encoding)
    return header, list(rows)


def resolve_image(image_root: Path, relative: str) -> str:
    """``image_root / relative`` as a string (absolute ``relative`` paths are kept).

    Args:
        image_root: The folder image names are relative to.
        relative: An image name from the table.

    Returns:
        The path.
    """
    return str(image_root / relative)


def has_image_extension(name: str, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> bool:
    """Whether ``name`` ends with one of ``extensions`` (any case).

    Args:
        name: A file name.
        extensions: Accepted endings.

    Returns:
        True for an image name.
    """
    lower = name.lower()
    return any(lower.endswith(ext.lower()) for ext in extensions)


def require_records(records: list, name: object, skipped: int = 0, why: str = "") -> list:
    """A reader that found nothing to train on says so instead of returning an empty list.

    Args:
        records: What the reader found.
        name: The file read.
        skipped: Rows the reader skipped.
        why: Why they were skipped.

    Returns:
        ``records``.

    Raises:
        AnnotationFormatError: If ``records`` is empty.
    """
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
