"""Hand items to a function running in one background thread, in order, through a bounded queue.

Used where a loop's own work releases the GIL (a torch forward) and the follow-up is Python
(formatting and writing rows): the follow-up of one item overlaps the loop's work on the next.
The queue is bounded, so a slow consumer holds back the producer instead of piling up items.
An exception in the consumer is raised in the producer's thread, at its next :meth:`put` or at
:meth:`close`; the consumer then drops whatever is still queued.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

__all__ = ["BackgroundConsumer"]

Item = TypeVar("Item")

_DONE = object()
_POLL_SECONDS = 0.1  # how often a blocked put looks whether the consumer has failed


class BackgroundConsumer(Generic[Item]):
    """``consume(item)`` for every item put, in put order, in one thread (or inline with ``threaded=False``).

    Use as a context manager: leaving the block normally waits for every item to be consumed and
    raises the consumer's exception, if any; leaving it on an exception stops the consumer.

    Args:
        consume: Called with each item.
        depth: Items that may wait in the queue.
        threaded: Run ``consume`` in a background thread; False calls it inline in :meth:`put`.
        name: The thread's name.
    """

    def __init__(self, consume: Callable[[Item], object], depth: int = 4, threaded: bool = True,
                 name: str = "background-consumer") -> None:
        self._consume = consume
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True) if threaded else None
        if self._thread is not None:
            self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _DONE:
            if self._error is None and not self._stop.is_set():
                try:
                    self._consume(item)
                except BaseException as err:  # noqa: BLE001 - handed to the producer's thread
                    self._error = err

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def put(self, item: Item) -> None:
        """Queue ``item`` (waiting while the queue is full), or consume it now when not threaded.

        Args:
            item: What to consume.

        Raises:
            BaseException: Whatever ``consume`` raised on an earlier item.
        """
        if self._thread is None:
            self._consume(item)
            return
        while True:
            self._raise_error()
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait until every queued item is consumed and the thread has ended.

        Raises:
            BaseException: Whatever ``consume`` raised.
        """
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_DONE)  # the consumer drains the queue, so this never blocks for long
            self._thread.join()
        self._raise_error()

    def __enter__(self) -> BackgroundConsumer[Item]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.close()
            return
        self._stop.set()  # the block failed: drop what is queued, keep the block's exception
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()
