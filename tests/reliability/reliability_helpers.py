"""Helpers of the bad-input suite (imported by name, like ``report_helpers``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from seafloorhmc.cli import main

PROCESS_TIMEOUT = 300  # seconds for real processes to reach a state: generous, the test machine may be shared

IMAGE_SETTINGS = ["data.format=manifest", "data.image_size=32", "model.encoder=test_resnet", "model.members=2",
                  "model.hidden=8", "train.epochs=1", "train.batch_size=8", "train.progress=false",
                  "train.report=false"]
HMC_SETTINGS = ["data.format=hmc", "data.dataset=toy_FUN", "model.hidden=8", "train.epochs=1", "train.batch_size=8",
                "train.progress=false", "train.report=false"]


def train_args(config: Path, settings: list[str], out: Path, *extra: str) -> list[str]:
    """``train CONFIG --set ... --out OUT`` for :func:`~seafloorhmc.cli.main`."""
    return ["train", str(config), *[a for s in settings for a in ("--set", s)], "--out", str(out), *extra]


class Cli:
    """``seafloorhmc`` run in this process; every failure must be exactly one line on stderr."""

    def __init__(self, capsys) -> None:
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    def fails(self, *argv: str) -> str:
        """Run a command that must end as a user error; its one stderr line."""
        code, _, err = self(*argv)
        lines = err.strip().splitlines()
        assert code == 2, f"exit {code}: {err}"
        assert "Traceback" not in err and lines, err
        error_lines = [line for line in lines if "error:" in line]
        assert len(error_lines) == 1 and error_lines[0] == lines[-1], err
        return lines[-1]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = PROCESS_TIMEOUT) -> None:
    """Poll ``condition`` until it holds; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
