import pytest

from seafloorhmc.testing import write_tiny_hmc, write_tiny_image_manifest


@pytest.fixture(scope="session")
def sweep_hmc(tmp_path_factory):
    return write_tiny_hmc(tmp_path_factory.mktemp("sweep_hmc"))


@pytest.fixture(scope="session")
def sweep_images(tmp_path_factory):
    return write_tiny_image_manifest(tmp_path_factory.mktemp("sweep_images"), n_images=36, size=32)


@pytest.fixture
def no_run_reports(monkeypatch):
    """Skip the per-run HTML/plot report (seconds per cell, irrelevant to sweeps) in in-process cells."""
    monkeypatch.setattr("seafloorhmc.training.trainer.try_write_run_report", lambda *args, **kwargs: None,
                        raising=False)


@pytest.fixture
def hmc_sweep(sweep_hmc):
    """``hmc_sweep(**changes)``: a small sweep spec over the tiny HMC data.

    2 methods × 2 fractions × 1 seed, 1 epoch.
    """
    return lambda **extra: _hmc_sweep(sweep_hmc, **extra)


def _hmc_sweep(root, **extra) -> dict:
    spec = {
        "name": "tiny",
        "base": {"data": {"format": "hmc", "root": str(root), "dataset": "toy_FUN"},
                 "model": {"hidden": 8}, "train": {"epochs": 1, "batch_size": 16, "progress": False}},
        "methods": {"baseline": ["loss.node_weights=none"], "weighted": {"loss": {"node_weights": "class-wise"}}},
        "grid": {"data.train_fraction": [0.5, 1.0], "seed": [0]},
    }
    spec.update(extra)
    return spec
