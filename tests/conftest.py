"""Shared fixtures: small random hierarchies and seeded generators; nothing touches the network."""

from __future__ import annotations

import os

import pytest
import torch

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
