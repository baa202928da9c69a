"""Real tiny runs, trained once per session, for the report tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_helpers import row, write_csv, write_image

from seafloorhmc.config import load_config
from seafloorhmc.testing import write_tiny_hmc, write_tiny_image_manifest
from seafloorhmc.training import train


@pytest.fixture(scope="session")
def image_run(tmp_path_factory) -> Path:
    """A finished 2-epoch image run with train/val/test splits (the trainer writes its report)."""
    root = tmp_path_factory.mktemp("report_image_run")
    manifest = write_tiny_image_manifest(root / "data", n_images=36, size=32)
    config = load_config(None, [
        "name=tiny-images", "data.format=manifest", f"data.annotations={manifest}", "data.image_size=32",
        "model.encoder=test_resnet", "model.members=3", "model.hidden=16", "train.epochs=2",
        "train.batch_size=8", "train.progress=false", "train.lr=0.003"])
    train(config, root / "run")
    return root / "run"


@pytest.fixture(scope="session")
def hmc_run_without_val(tmp_path_factory) -> Path:
    """A finished feature-vector (HMC) run trained on train ∪ valid: no validation split."""
    root = tmp_path_factory.mktemp("report_hmc_run")
    data = write_tiny_hmc(root / "data")
    config = load_config(None, [
        "data.format=hmc", f"data.root={data}", "data.dataset=toy_FUN", "data.train_on_val=true",
        "model.hidden=16", "train.epochs=2", "train.batch_size=8", "train.progress=false",
        "train.optimizer=adam", "train.lr=0.001"])
    train(config, root / "run")
    return root / "run"


@pytest.fixture
def predictions(tmp_path):
    """Six rows: two points and two whole images of a real picture, one missing image, one unreadable row."""
    write_image(tmp_path / "images" / "a.png")
    rows = [
        row("images/a.png", "5", "24", "Biota > Sponges;Biota > Echinoderms > Sea stars", "0.9100", "true"),  # line 2
        row("images/a.png", "60", "10", "Biota > Echinoderms", "0.2000", "false"),                           # line 3
        row("images/a.png", predicted="Biota > Sponges", uncertainty="0.7000", review="true"),               # line 4
        row("images/gone.png", predicted="", uncertainty="0.9500", review="true"),                           # line 5
        row("images/b.png", predicted="", uncertainty="", review="", error="cannot read image b.png: truncated"),
        row("images/a.png", predicted="Biota > Sponges", uncertainty="0.1000", review="false"),              # line 7
    ]
    return write_csv(tmp_path / "predictions.csv", rows)
