"""How commands end: a user error is one line and exit 2, a bug says so, a closed pipe is quiet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import seafloorhmc.cli as cli_module
from seafloorhmc.cli import EXIT_BUG, TRACEBACK_VARIABLE, describe_error, main


def test_a_closed_output_pipe_ends_quietly():
    """``seafloorhmc keys | head`` used to print a BrokenPipeError traceback."""
    process = subprocess.Popen([sys.executable, "-m", "seafloorhmc.cli", "keys"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the first line is written
    err = process.stderr.read().decode()
    assert process.wait() == 141 and err == ""


def test_an_unexpected_exception_is_reported_as_a_bug_with_its_traceback_saved(monkeypatch, capsys):
    def broken(args):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(cli_module, "_cmd_keys", broken)
    monkeypatch.delenv(TRACEBACK_VARIABLE, raising=False)
    assert main(["keys"]) == EXIT_BUG
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("seafloorhmc keys: internal error (a bug in seafloorhmc, not in your data or settings): "
                          "TypeError: unsupported operand")
    saved = Path(err.split("traceback in ")[1].split(" ")[0])
    assert "Traceback" in saved.read_text() and "in broken" in saved.read_text()
    saved.unlink()
    monkeypatch.setenv(TRACEBACK_VARIABLE, "1")
    assert main(["keys"]) == EXIT_BUG
    assert "Traceback (most recent call last)" in capsys.readouterr().err


@pytest.mark.parametrize("error, message, is_bug", [
    (ValueError("data.csv:4: bad"), "data.csv:4: bad", False),
    (FileNotFoundError("no such file: x.csv"), "no such file: x.csv", False),
    (FloatingPointError("non-finite loss"), "non-finite loss", False),
    (RuntimeError("Caught BadImageError in DataLoader worker process 1.\nOriginal Traceback (most recent call "
                  "last):\n  File \"w.py\", line 3, in f\nseafloorhmc.data.images.BadImageError: cannot read image "
                  "a.jpg: truncated\n"), "cannot read image a.jpg: truncated", False),
    (RuntimeError("Caught KeyError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
                  "  File \"w.py\", line 3, in f\nKeyError: 'image'\n"), "KeyError: 'image'", True),
    (RuntimeError("DataLoader worker (pid(s) 123) exited unexpectedly"), "lower data.workers", False),
    (KeyError("image"), "KeyError: 'image'", True),
    (ZeroDivisionError("division by zero"), "ZeroDivisionError: division by zero", True),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), "RuntimeError: mat1 and mat2", True),
])
def test_errors_are_told_apart_and_become_one_line(error, message, is_bug):
    text, bug = describe_error(error)
    assert message in text and "\n" not in text and bug is is_bug


def test_library_error_types_that_are_not_value_errors_are_user_errors():
    from seafloorhmc.experiments.sweep import SweepError
    from seafloorhmc.utils.locks import RunLockedError

    assert describe_error(SweepError("cell c: changed"))[1] is False
    assert describe_error(RunLockedError(Path("run"), None, Path("run/.seafloorhmc.lock")))[1] is False
