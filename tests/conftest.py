"""Shared fixtures: small random hierarchies and seeded generators; nothing touches the network."""

from __future__ import annotations

import os

import pytest
import torch

from seafloorhmc.config import load_config
from seafloorhmc.testing import write_tiny_hmc, write_tiny_image_manifest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def echinoderm_paths() -> list[str]:
    """A 12-node echinoderm subtree with one non-echinoderm branch."""
    return [
        "Biota/Echinoderms/Feather stars",
        "Biota/Echinoderms/Ophiuroids/Brittle stars",
        "Biota/Echinoderms/Ophiuroids/Basket stars",
        "Biota/Echinoderms/Sea cucumbers",
        "Biota/Echinoderms/Sea stars",
        "Biota/Echinoderms/Sea urchins/Irregular urchins",
        "Biota/Echinoderms/Sea urchins/Regular urchins",
        "Biota/Sponges",
    ]


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory):
    return write_tiny_image_manifest(tmp_path_factory.mktemp("tiny_images"), n_images=36, size=32)


@pytest.fixture(scope="session")
def tiny_hmc(tmp_path_factory):
    return write_tiny_hmc(tmp_path_factory.mktemp("tiny_hmc"))


@pytest.fixture
def image_config(tiny_images):
    def make(*overrides):
        return load_config(None, [
            "data.format=manifest", f"data.annotations={tiny_images}", "data.image_size=32",
            "model.encoder=test_resnet", "model.members=3", "model.hidden=16", "train.epochs=2",
            "train.batch_size=8", "train.progress=false", "train.lr=0.003", *overrides])
    return make


@pytest.fixture
def hmc_config(tiny_hmc):
    def make(*overrides):
        return load_config(None, [
            "data.format=hmc", f"data.root={tiny_hmc}", "data.dataset=toy_FUN", "model.hidden=32",
            "train.epochs=3", "train.batch_size=4", "train.progress=false", "train.optimizer=adam",
            "train.lr=0.001", *overrides])
    return make
