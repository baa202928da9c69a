import pytest

from seafloorhmc.config import load_config
from seafloorhmc.testing import write_tiny_hmc, write_tiny_image_manifest


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
