"""``data.train_on_val``: the validation rows are trained on, but node weights and the rare-node set
come from the training split proper, for image and HMC data alike (spec §3.1: "valid excluded even
though it is trained on")."""

import numpy as np
import pytest
import torch

from seafloorhmc.data.arff import load_hmc_dataset
from seafloorhmc.datamodule import prepare_data
from seafloorhmc.losses import node_weights


@pytest.mark.parametrize("which", ["images", "hmc"])
def test_train_on_val_trains_on_both_but_weighs_by_the_train_split(which, image_config, hmc_config):
    make = image_config if which == "images" else hmc_config
    plain = prepare_data(make())
    merged = prepare_data(make("data.train_on_val=true"))
    n_train, n_val = plain.info["train"], plain.info["val"]
    assert n_val > 0 and merged.val is None and merged.info["train"] == n_train + n_val
    assert torch.equal(merged.train_targets, plain.train_targets), "weights from the train split proper"
    trained = merged.train.targets
    assert torch.equal(trained[:n_train], plain.train.targets) and torch.equal(trained[n_train:], plain.val.targets)
    if which == "images":  # the image path also carries which cells are known
        assert torch.equal(merged.train_known, plain.train_known)
    weights = node_weights(merged.train_targets, merged.taxonomy, mode="class-wise")
    union = node_weights(trained, merged.taxonomy, mode="class-wise")
    assert not torch.allclose(torch.as_tensor(weights[0]), torch.as_tensor(union[0])), \
        "the validation rows change the weights, so this test can tell the two rules apart"


def test_hmc_train_split_proper_is_the_train_arff(hmc_config, tiny_hmc):
    merged = prepare_data(hmc_config("data.train_on_val=true"))
    raw = load_hmc_dataset(tiny_hmc, "toy_FUN")
    assert np.array_equal(merged.train_targets.numpy(), np.asarray(raw.targets("train"), dtype=np.float32))
