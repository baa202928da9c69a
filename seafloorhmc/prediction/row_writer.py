"""The predictions CSV, written in input order, by this process or by a helper process beside the model.

Formatting a row is pure Python (about 0.1 ms); done between two batches on the model's thread it
is time the model waits, and a writer *thread* cannot help because formatting holds the GIL the
model's Python needs between its operations. :class:`BackgroundRowWriter` therefore runs the same
:class:`RowWriter` in a forked child: the model's process only sends each batch's decisions as
small arrays (:class:`RowBatch`, a few kB) and goes on with the next batch, while the child formats
and writes on a core the model does not use. The file, its bytes and the review queue are the
same either way.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Protocol

import numpy as np

from ..utils.priority import lower_priority
from .inputs import InputOrder, PredictionItem
from .table import PredictionTable, RowFile

__all__ = ["BackgroundRowWriter", "RowBatch", "RowSink", "RowWriter", "open_row_writer"]


@dataclass
class RowBatch:
    """One batch's rows as plain arrays: what :meth:`PredictionTable.rows` needs, cheap to send to a process.

    Attributes:
        indices: Input indices of the predicted items, in batch order.
        errors: ``(input index, message)`` of the items that could not be predicted.
        probs: Node probabilities [b, N] (None when no item of the batch was predicted).
        deepest: Bool [b, N], the deepest predicted nodes.
        uncertainty: Row uncertainty [b].
        needs_review: Bool [b], the review flag.
        top_nodes: Suggested nodes [b, k'].
        top_confidence: Their confidences 0-100 [b, k'].
        to_review: Bool [b, N], the deepest predicted nodes that need review.
    """

    indices: list[int]
    errors: list[tuple[int, str]]
    probs: np.ndarray | None = None
    deepest: np.ndarray | None = None
    uncertainty: np.ndarray | None = None
    needs_review: np.ndarray | None = None
    top_nodes: np.ndarray | None = None
    top_confidence: np.ndarray | None = None
    to_review: np.ndarray | None = None


class RowSink(Protocol):
    """Where :func:`~seafloorhmc.prediction.predictor.write_predictions` sends its batches."""

    def add(self, batch: RowBatch) -> None:
        """Take one batch's rows.

        Args:
            batch: The batch's decisions.
        """
        ...

    def finish(self, review: Path | None) -> int:
        """Write every row, and the review queue to ``review``.

        Args:
            review: The review queue's path, or None for none.

        Returns:
            Rows written.
        """
        ...

    def close(self) -> None:
        """Release the file (and any process), finished or not."""
        ...


class RowWriter:
    """Rows into ``path`` in input order (batches may finish in another order), the review queue at the end.

    Args:
        path: The file to write (truncated).
        table: Formats the rows.
        items: All items of the run, by input index.
    """

    def __init__(self, path: str | Path, table: PredictionTable, items: list[PredictionItem]) -> None:
        self.table = table
        self.items = items
        self.rows = RowFile(path, table.header)
        self.order: InputOrder[tuple[list[str], float]] = InputOrder()

    def add(self, batch: RowBatch) -> None:
        """Format a batch's rows and write those now due (unreadable items last in the review queue).

        Args:
            batch: The batch's decisions.
        """
        table, items, b = self.table, self.items, batch
        pending: dict[int, tuple[list[str], float]] = {}
        for index, message in b.errors:
            pending[index] = (table.error_row(items[index], message), float("inf"))
        if b.probs is not None:
            assert b.deepest is not None and b.uncertainty is not None and b.needs_review is not None
            assert b.top_nodes is not None and b.top_confidence is not None  # set with probs
            formatted = table.rows([items[i] for i in b.indices], b.probs, b.deepest, b.uncertainty, b.needs_review,
                                   b.top_nodes, b.top_confidence, b.to_review)
            for index, row, u in zip(b.indices, formatted, b.uncertainty.tolist()):
                pending[index] = (row, -u)
        due = self.order.add(pending)
        self.rows.write([row for row, _ in due], [key for _, key in due])

    def finish(self, review: Path | None) -> int:
        """Close the file and write the review queue (most uncertain first) to ``review``.

        Args:
            review: The review queue's path, or None for none.

        Returns:
            Rows written.
        """
        if review is not None:
            self.rows.write_sorted(review)
        self.rows.close()
        return len(self.rows)

    def close(self) -> None:
        """Close the file (after an error: what was written stays for the caller to remove)."""
        self.rows.close()


def _serve(connection: Connection, parent_end: Connection, path: str, table: PredictionTable,
           items: list[PredictionItem], niceness: int) -> None:
    """The child's loop: batches in, a row count (or the exception that stopped it) out at the end.

    Ctrl-C is left to the parent, which stops the child; a parent gone without a word (killed)
    ends the loop quietly, leaving the temporary file for the next run's clean-up.
    """
    parent_end.close()  # the fork's copy: with it open, a parent gone would never read as the end of the pipe
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lower_priority(niceness)
    failure: BaseException | None = None
    writer: RowWriter | None = None
    try:
        writer = RowWriter(path, table, items)
    except Exception as err:  # reported when the parent asks for the result
        failure = err
    while True:
        try:
            kind, payload = connection.recv()
        except EOFError:  # the parent is gone
            kind, payload = "abort", None
        if kind == "batch" and failure is None:
            try:
                assert writer is not None  # no failure: the writer was made
                writer.add(payload)
            except Exception as err:
                failure = err
        elif kind == "finish":
            reply: tuple[str, object]
            if failure is None:
                try:
                    assert writer is not None
                    reply = ("done", writer.finish(payload))
                except Exception as err:
                    reply = ("failed", err)
            else:
                reply = ("failed", failure)
            try:
                connection.send(reply)
            except Exception:  # an exception that does not pickle: its text
                connection.send(("failed", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))
            return
        elif kind == "abort":
            if writer is not None:
                writer.close()
            return


class BackgroundRowWriter:
    """:class:`RowWriter` in a forked child process (module doc); the same interface.

    Errors of the child (a full disk, a formatting bug) are raised by :meth:`finish`, as the
    in-process writer would raise them. :meth:`close` without :meth:`finish` stops the child.

    Args:
        path: The file to write (truncated).
        table: Formats the rows.
        items: All items of the run, by input index.
        niceness: Added to the child's niceness, so the model keeps its core.
    """

    def __init__(self, path: str | Path, table: PredictionTable, items: list[PredictionItem],
                 niceness: int = 0) -> None:
        context = multiprocessing.get_context("fork")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, name="seafloorhmc-rows", daemon=True,
                                        args=(child, self._connection, str(path), table, items, niceness))
        self._process.start()
        child.close()
        self._finished = False

    def _ended(self) -> RuntimeError:
        self._process.join(1)
        return RuntimeError(f"the process writing the predictions ended unexpectedly "
                            f"(exit code {self._process.exitcode})")

    def _send(self, kind: str, payload: object) -> None:
        try:
            self._connection.send((kind, payload))
        except (BrokenPipeError, ConnectionResetError, EOFError):
            raise self._ended() from None

    def add(self, batch: RowBatch) -> None:
        """Send a batch to the child (returns as soon as it is sent).

        Args:
            batch: The batch's decisions.
        """
        self._send("batch", batch)

    def finish(self, review: Path | None) -> int:
        """Wait for the child to write every row (and the review queue); its error, if any, is raised here.

        Args:
            review: The review queue's path, or None for none.

        Returns:
            Rows written.

        Raises:
            RuntimeError: If the child ended without answering.
        """
        self._send("finish", None if review is None else str(review))
        try:
            kind, payload = self._connection.recv()
        except EOFError:
            raise self._ended() from None
        self._finished = True
        self._process.join()
        if kind == "failed":
            assert isinstance(payload, BaseException)
            raise payload
        assert isinstance(payload, int)
        return payload

    def close(self) -> None:
        """Stop the child if it has not finished (after an error in this process)."""
        if not self._finished and self._process.is_alive():
            try:
                self._connection.send(("abort", None))
            except OSError:
                pass
            self._process.join(5)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join()
        self._connection.close()


def open_row_writer(path: str | Path, table: PredictionTable, items: list[PredictionItem], background: bool,
                    niceness: int = 0) -> RowSink:
    """A row writer in a child process when ``background`` and processes can be forked here, else in this one.

    Args:
        path: The file to write (truncated).
        table: Formats the rows.
        items: All items of the run, by input index.
        background: Prefer a child process (the caller uses worker processes anyway).
        niceness: Added to the child's niceness.

    Returns:
        The writer; call ``finish`` once every batch is added, ``close`` in any case.
    """
    if background and sys.platform.startswith("linux"):  # fork: cheap, and the table needs no pickling
        return BackgroundRowWriter(path, table, items, niceness)
    return RowWriter(path, table, items)
