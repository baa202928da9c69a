"""Atomic file writes: write a temp file in the same folder, fsync, then ``os.replace``.

A crash mid-write leaves the previous file (or nothing) behind, never a truncated one. What a
``kill -9`` does leave is the temporary file itself (``.<name>.<random>.tmp``). While a write is in
progress its temporary file carries an exclusive ``flock``, so :func:`remove_stale_temporaries`
can tell the leftovers of a dead writer (unlocked) from a write in progress (locked) without
guessing from ages or process ids; the kernel drops the lock when the writer dies.

:func:`refuse_existing` is the one rule for outputs that already exist: nothing is replaced
unless the caller asked to overwrite it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "write_text", "write_bytes", "write_json", "TEMP_SUFFIX",
           "is_temporary", "remove_stale_temporaries", "refuse_existing"]

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    The temporary file is locked (``flock``) until it has replaced ``path`` or been removed, which
    marks it as in use for :func:`remove_stale_temporaries`.

    Args:
        path: The file to write.

    Yields:
        The temporary file to write to (it exists, empty).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: nobody else holds it
    except OSError:
        pass  # a filesystem without locks: the temporary file just looks stale sooner
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would have
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)  # releases the lock


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
        path: The file to write.
        writer: Writes the content to the path it is given.

    Returns:
        ``path``.
    """
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically.

    Args:
        path: The file to write.
        text: Its content.

    Returns:
        ``path``.
    """
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write bytes atomically.

    Args:
        path: The file to write.
        data: Its content.

    Returns:
        ``path``.
    """
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_json(path: str | Path, data, indent: int = 2) -> Path:
    """Write JSON atomically (numpy/torch scalars and paths are converted).

    Args:
        path: The file to write.
        data: What to serialise.
        indent: Indentation of the JSON text.

    Returns:
        ``path``.
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


def is_temporary(path: str | Path, target: str | None = None) -> bool:
    """Whether ``path`` is named like a temporary file of :func:`atomic_path` (of ``target``, if given).

    Args:
        path: A file path.
        target: Only temporaries of a file with this name count.

    Returns:
        True for ``.<name>.<random>.tmp``.
    """
    name = Path(path).name
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return False
    stem = name[1:-len(TEMP_SUFFIX)]
    if target is not None:
        return stem.startswith(f"{target}.") and len(stem) > len(target) + 1
    return "." in stem


def _in_use(path: Path) -> bool:
    """Whether a writer still holds the temporary file's lock (True when in doubt)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True  # gone already, or not ours to judge
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True  # no lock support: leave it
    finally:
        os.close(fd)
    return False


def remove_stale_temporaries(folder: str | Path, recursive: bool = False, targets: Iterable[str] | None = None,
                             min_age: float = 1.0) -> list[Path]:
    """Delete temporary files that an interrupted :func:`atomic_path` write left in ``folder``.

    A temporary file is stale when no process holds its lock and it is older than ``min_age``
    seconds (the age closes the microseconds between a writer creating the file and locking it).

    Args:
        folder: Where to look.
        recursive: Also look in subfolders.
        targets: Only temporaries of files with these names (default: any).
        min_age: Seconds since the last change before a temporary file may be stale.

    Returns:
        The files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = None if targets is None else [str(t) for t in targets]
    candidates = folder.rglob(f"*{TEMP_SUFFIX}") if recursive else folder.glob(f"*{TEMP_SUFFIX}")
    removed = []
    now = time.time()
    for path in candidates:
        if not (is_temporary(path) if names is None else any(is_temporary(path, n) for n in names)):
            continue
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime < min_age or _in_use(path) or not path.is_file():
                continue
            path.unlink()
            removed.append(path)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted write in %s", len(removed), folder)
    return removed


def refuse_existing(paths: Iterable[str | Path], overwrite: bool, what: str = "") -> None:
    """The rule for outputs: an existing file is only replaced when the user asked for it.

    Args:
        paths: The files a command is about to write.
        overwrite: Whether the user allowed replacing them (``--overwrite``).
        what: A word for the files in the message (``"report"``, ``"encoder weights"``).

    Raises:
        FileExistsError: Naming the first existing file, unless ``overwrite``.
    """
    if overwrite:
        return
    for path in paths:
        path = Path(path)
        if path.exists():
            kind = f"{what} " if what else ""
            raise FileExistsError(f"{kind}{path} already exists; choose another output or pass --overwrite to "
                                  "replace it")
