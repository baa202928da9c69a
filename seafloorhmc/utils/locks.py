"""One owner per run folder: an advisory lock held for the whole run, naming who holds it.

Training, resuming, evaluating into a run folder, rebuilding its report and every sweep cell take
:class:`RunLock` on the folder first. A second process is refused (or, for sweep cells, waits) with
a message naming the holder: pid, host, command and start time, read from the lock file.

Why ``fcntl.flock`` and a file that is never deleted: the kernel drops an ``flock`` when its
process dies, however it dies (``kill -9`` included), so a lock left by a dead process is free to
take at once, with no stale-pid guessing. Deleting a lock file is racy (a waiter may hold the old
inode while a newcomer locks a new one), so the file stays; its content, the holder's details, is
emptied on a clean release. Finding details in a lock one could take therefore means the previous
holder died without releasing: that is logged as a takeover. (The ``filelock`` package truncates
the file on every attempt, which would erase the holder's details, hence ``fcntl`` directly.)

A thread may take a lock it already holds again (training inside a sweep cell does); another
thread of the same process is refused like another process.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunLock", "RunLockedError", "LockHolder", "LOCK_NAME", "read_holder", "current_command"]

log = logging.getLogger(__name__)

LOCK_NAME = ".seafloorhmc.lock"

_HELD: dict[str, tuple[int, int, RunLock]] = {}  # folder → (thread id, depth, lock) held by this process
_HELD_GUARD = threading.Lock()


class RunLockedError(RuntimeError):
    """The folder belongs to another running process; the message names it.

    Args:
        folder: The run folder.
        holder: Who holds it (None if its details are not written yet).
        lock_path: The lock file.
    """

    def __init__(self, folder: Path, holder: LockHolder | None, lock_path: Path) -> None:
        self.folder, self.holder, self.lock_path = folder, holder, lock_path
        who = holder.describe() if holder is not None else "a process that has not written its details yet"
        super().__init__(f"{folder} is in use by another seafloorhmc process: {who} (lock {lock_path}); wait for "
                         "it to finish or stop it, or choose another folder (a lock left by a process that died "
                         "is taken over automatically)")


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) a run lock."""

    pid: int
    host: str
    command: str
    started: str

    def describe(self) -> str:
        """One phrase naming the holder.

        Returns:
            ``pid 123 on host, started 2024-05-01 10:00:00, running `seafloorhmc train ...```.
        """
        return f"pid {self.pid} on {self.host}, started {self.started}, running `{self.command}`"

    def to_json(self) -> bytes:
        """The lock file's content.

        Returns:
            UTF-8 JSON.
        """
        return json.dumps(self.__dict__).encode("utf-8")


def current_command() -> str:
    """The command line of this process, as a user would recognise it.

    Returns:
        ``seafloorhmc train cfg.yaml --out runs/a`` (program name without its folder).
    """
    argv = list(sys.argv) or ["python"]
    return " ".join([Path(argv[0]).name or "python", *argv[1:]])


def _parse(data: bytes) -> LockHolder | None:
    try:
        raw = json.loads(data.decode("utf-8"))
        return LockHolder(int(raw["pid"]), str(raw["host"]), str(raw["command"]), str(raw["started"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _read_fd(fd: int) -> LockHolder | None:
    try:
        return _parse(os.pread(fd, 65536, 0)) if os.fstat(fd).st_size else None
    except OSError:
        return None


def read_holder(folder: str | Path) -> LockHolder | None:
    """The process holding ``folder``'s lock now, or None when nobody does.

    Args:
        folder: A run folder.

    Returns:
        The holder's details (None also when the folder has never been locked).
    """
    path = Path(folder) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_fd(fd) or LockHolder(-1, "?", "?", "?")
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class RunLock:
    """An exclusive, advisory lock on a run folder, held from :meth:`acquire` to :meth:`release`.

    Use it as a context manager. The folder is created if needed; the lock file is
    ``<folder>/.seafloorhmc.lock``.

    Args:
        folder: The run folder.
        wait: Wait for the holder to finish instead of raising (sweep cells).
        command: What to name this process by (default: its command line).
    """

    def __init__(self, folder: str | Path, wait: bool = False, command: str | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.wait = wait
        self.command = command or current_command()
        self.took_over: LockHolder | None = None
        self._fd: int | None = None
        self._key = str(self.folder.resolve())

    @property
    def held(self) -> bool:
        """Whether this process holds the folder's lock (through this object or one it re-entered)."""
        return self._key in _HELD

    def acquire(self) -> RunLock:
        """Take the lock (or re-enter it from the thread that holds it).

        Returns:
            This lock.

        Raises:
            RunLockedError: If another process or thread holds it and ``wait`` is False.
        """
        me = threading.get_ident()
        with _HELD_GUARD:
            held = _HELD.get(self._key)
            if held is not None:
                owner, depth, lock = held
                if owner != me:
                    raise RunLockedError(self.folder, lock._holder(), self.path)
                _HELD[self._key] = (owner, depth + 1, lock)  # the outermost lock keeps the file
                return self
        self._fd = self._lock_file()
        with _HELD_GUARD:
            _HELD[self._key] = (me, 1, self)
        return self

    def _holder(self) -> LockHolder | None:
        return _read_fd(self._fd) if self._fd is not None else None

    def _lock_file(self) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                if not self._flock(fd):
                    return fd  # no lock support on this filesystem: warned, go on unprotected
                if self._same_file(fd):
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the file was replaced while we waited: lock the new one
        previous = _read_fd(fd)
        if previous is not None:
            self.took_over = previous
            log.warning("%s: taking over the lock of a process that ended without releasing it (%s)",
                        self.folder, previous.describe())
        holder = LockHolder(os.getpid(), socket.gethostname(), self.command, time.strftime("%Y-%m-%d %H:%M:%S"))
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.to_json(), 0)
        os.fsync(fd)
        return fd

    def _flock(self, fd: int) -> bool:
        """Lock ``fd``, waiting or refusing as configured; False when the filesystem has no locks."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            holder = self._wait_for_details(fd)
            if not self.wait:
                raise RunLockedError(self.folder, holder, self.path) from None
            log.info("%s is in use (%s); waiting for it to be released", self.folder,
                     holder.describe() if holder else "details not written yet")
            fcntl.flock(fd, fcntl.LOCK_EX)
            return True
        except OSError as err:
            log.warning("%s: cannot lock %s (%s); nothing stops another process from writing into this folder "
                        "at the same time", self.folder, self.path, err.strerror or err)
            return False

    @staticmethod
    def _wait_for_details(fd: int, tries: int = 20) -> LockHolder | None:
        """The holder's details; a holder that has just taken the lock writes them a moment later."""
        for _ in range(tries):
            holder = _read_fd(fd)
            if holder is not None:
                return holder
            time.sleep(0.01)
        return None

    def _same_file(self, fd: int) -> bool:
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        """Give the lock up (the outermost release of a re-entered lock does); a no-op when not held."""
        with _HELD_GUARD:
            held = _HELD.get(self._key)
            if held is None or held[0] != threading.get_ident():
                return
            owner, depth, lock = held
            if depth > 1:
                _HELD[self._key] = (owner, depth - 1, lock)
                return
            del _HELD[self._key]
        lock._unlock()

    def _unlock(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # an empty lock file: released cleanly, nothing to take over
        except OSError:
            pass
        finally:
            os.close(fd)  # drops the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
