"""Atomic file writes: write a temp file in the same folder, fsync, then ``os.replace``.

A crash mid-write leaves the previous file (or nothing) behind, never a truncated one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "write_text", "write_bytes", "write_json"]


@contextmanager
def atomic_path(path: str | Path):
    """A temporary path next to ``path`` that replaces ``path`` atomically when the block succeeds.

    The temp file is fsynced and given the permissions ``open()`` would have given; on an
    exception it is deleted and ``path`` is left as it was.

    Args:
        path: The final file; its folder is created if needed.

    Yields:
        The temporary path to write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would have
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask, read without changing it where Linux reports it.

    Setting the umask to read it would briefly affect files other threads create.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp_path)`` and move the result into place.

    Args:
        path: The final file.
        writer: Writes the file at the path it is given (its return value is ignored).

    Returns:
        ``path`` as a path.
    """
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically.

    Args:
        path: The final file.
        text: The content.

    Returns:
        ``path`` as a path.
    """
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write bytes atomically.

    Args:
        path: The final file.
        data: The content.

    Returns:
        ``path`` as a path.
    """
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_json(path: str | Path, data, indent: int = 2) -> Path:
    """Write JSON atomically; numpy/torch scalars and arrays and paths are converted.

    Args:
        path: The final file.
        data: JSON-serialisable data (numpy/torch values and paths allowed).
        indent: Indentation of the output.

    Returns:
        ``path`` as a path.

    Raises:
        TypeError: If a value cannot be serialised.
    """
    return write_text(path, json.dumps(data, indent=indent, sort_keys=False, default=_json_default) + "\n")


def _json_default(value):
    """numpy/torch scalars and paths in metrics and configs."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
