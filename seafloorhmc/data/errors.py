"""The one error type every annotation reader raises, so callers can catch bad input in one place."""

from __future__ import annotations

__all__ = ["AnnotationFormatError"]


class AnnotationFormatError(ValueError):
    """An annotation file that cannot be read as its format promises.

    The message starts with the culprit's location (``file:row``, plus the column where one is to
    blame), so a user can open the file and go straight to the problem. The parts are also kept as
    attributes for programs that want to report them differently.

    Args:
        message: What is wrong (kept as ``reason``).
        file: The file at fault, if known.
        row: Its spreadsheet row number (header = 1), if known.
        column: The column at fault, if one is to blame.
    """

    def __init__(self, message: str, file: object = None, row: int | None = None,
                 column: str | None = None) -> None:
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.reason = message
        where = self.file or ""
        if row is not None:
            where = f"{where}:{row}" if where else f"row {row}"
        if column is not None:
            where = f"{where}, column {column!r}" if where else f"column {column!r}"
        super().__init__(f"{where}: {message}" if where else message)
