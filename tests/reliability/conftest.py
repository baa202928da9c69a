"""Shared pieces of the bad-input suite: tiny data written per test, one image run per session, a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from seafloorhmc.cli import main
from seafloorhmc.testing import write_tiny_hmc, write_tiny_image_manifest

IMAGE_SETTINGS = ["data.format=manifest", "data.image_size=32", "model.encoder=test_resnet", "model.members=2",
                  "model.hidden=8", "train.epochs=1", "train.batch_size=8", "train.progress=false",
                  "train.report=false"]
HMC_SETTINGS = ["data.format=hmc", "data.dataset=toy_FUN", "model.hidden=8", "train.epochs=1", "train.batch_size=8",
                "train.progress=false", "train.report=false"]


def train_args(config: Path, settings: list[str], out: Path, *extra: str) -> list[str]:
    """``train CONFIG --set ... --out OUT`` for :func:`~seafloorhmc.cli.main`."""
    return ["train", str(config), *[a for s in settings for a in ("--set", s)], "--out", str(out), *extra]


@pytest.fixture(scope="session")
def empty_config(tmp_path_factory) -> Path:
    """A config file that sets nothing (everything comes from ``--set``)."""
    path = tmp_path_factory.mktemp("config") / "config.yaml"
    path.write_text("{}\n")
    return path


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


@pytest.fixture
def cli(capsys) -> Cli:
    return Cli(capsys)


@pytest.fixture
def images(tmp_path) -> Path:
    """A private tiny image set (36 images, 32 px, train/val/test split column): its manifest."""
    return write_tiny_image_manifest(tmp_path / "data", n_images=36, size=32)


@pytest.fixture
def hmc_root(tmp_path) -> Path:
    return write_tiny_hmc(tmp_path / "hmc")


@pytest.fixture(scope="session")
def image_run(tmp_path_factory, empty_config) -> Path:
    """A finished one-epoch image run with its report (do not modify it; copy it)."""
    root = tmp_path_factory.mktemp("reliability_run")
    manifest = write_tiny_image_manifest(root / "data", n_images=36, size=32)
    settings = [*IMAGE_SETTINGS, f"data.annotations={manifest}", "train.report=true"]
    assert main(train_args(empty_config, settings, root / "run")) == 0
    return root / "run"
