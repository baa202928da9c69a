"""Fixtures of the bad-input suite: tiny data written per test, one image run per session, a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_helpers import IMAGE_SETTINGS, Cli, train_args

from seafloorhmc.cli import main
from seafloorhmc.testing import write_tiny_hmc, write_tiny_image_manifest


@pytest.fixture(scope="session")
def empty_config(tmp_path_factory) -> Path:
    """A config file that sets nothing (everything comes from ``--set``)."""
    path = tmp_path_factory.mktemp("config") / "config.yaml"
    path.write_text("{}\n")
    return path


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
