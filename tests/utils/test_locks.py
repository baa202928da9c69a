"""Run locks: one owner per folder, the holder named, a dead holder's lock taken over (real processes)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from seafloorhmc.utils.locks import LOCK_NAME, RunLock, RunLockedError, read_holder

HOLD = textwrap.dedent("""
    import sys, time
    from seafloorhmc.utils.locks import RunLock
    lock = RunLock(sys.argv[1], command="holder-under-test").acquire()
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    lock.release()
""")


def _holder(folder, seconds: float) -> subprocess.Popen:
    """A process that takes the folder's lock, says so, and keeps it for ``seconds``."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds)], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_the_lock_file_names_the_holder_while_held_and_is_emptied_on_release(tmp_path):
    with RunLock(tmp_path / "run", command="seafloorhmc train x.yaml") as lock:
        saved = json.loads((tmp_path / "run" / LOCK_NAME).read_text())
        assert saved["pid"] == os.getpid() and saved["host"] == socket.gethostname()
        assert saved["command"] == "seafloorhmc train x.yaml"
        assert read_holder(tmp_path / "run").pid == os.getpid() and lock.held
    assert (tmp_path / "run" / LOCK_NAME).read_text() == ""
    assert read_holder(tmp_path / "run") is None and not lock.held


def test_the_holding_thread_may_reenter_another_thread_may_not(tmp_path):
    refused = []
    with RunLock(tmp_path):
        with RunLock(tmp_path):  # training inside a sweep cell takes the cell's lock again
            pass
        assert read_holder(tmp_path) is not None, "leaving the inner block keeps the outer lock"

        def other():
            try:
                RunLock(tmp_path).acquire()
            except RunLockedError as err:
                refused.append(str(err))

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert refused and f"pid {os.getpid()}" in refused[0]
    with RunLock(tmp_path):  # free again after the outermost release
        pass


def test_a_second_process_is_refused_with_the_holders_details(tmp_path):
    holder = _holder(tmp_path, 30)
    try:
        with pytest.raises(RunLockedError) as caught:
            RunLock(tmp_path).acquire()
        message = str(caught.value)
        assert f"pid {holder.pid} on {socket.gethostname()}" in message
        assert "holder-under-test" in message and "started 20" in message and LOCK_NAME in message
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, caplog):
    holder = _holder(tmp_path, 30)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert read_holder(tmp_path) is None, "the kernel released the dead process's lock"
    with caplog.at_level(logging.WARNING, logger="seafloorhmc"), RunLock(tmp_path) as lock:
        assert lock.took_over is not None and lock.took_over.pid == holder.pid
    assert f"pid {holder.pid}" in caplog.text and "ended without releasing" in caplog.text


def test_waiting_takes_the_lock_when_the_holder_ends(tmp_path):
    holder = _holder(tmp_path, 1.0)
    try:
        start = time.monotonic()
        with RunLock(tmp_path, wait=True):
            assert holder.poll() is not None or time.monotonic() - start > 0.5
    finally:
        holder.wait()
    assert holder.returncode == 0
