"""Lower a helper process's CPU priority, so the process it serves (the model's) keeps its core."""

from __future__ import annotations

import os

__all__ = ["HELPER_NICENESS", "lower_priority"]

HELPER_NICENESS = 10  # helpers have work queued ahead; the model's thread is what everything waits on


def lower_priority(increment: int = HELPER_NICENESS) -> None:
    """Add ``increment`` to this process's niceness; where that is not allowed, keep the priority.

    Args:
        increment: Niceness to add (0: none).
    """
    try:
        os.nice(increment)
    except OSError:  # not permitted here
        pass
