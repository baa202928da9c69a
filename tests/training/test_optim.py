"""Optimiser groups: learning rates per part, weight decay off for norms and biases unless asked."""

from __future__ import annotations

import math

import pytest

from seafloorhmc.config import load_config
from seafloorhmc.models import build_model
from seafloorhmc.taxonomy import Taxonomy
from seafloorhmc.training.optim import build_optimizer, lr_factor

TAX = Taxonomy.from_paths(["R/A/A1", "R/A/A2", "R/B"])


def _model(*overrides):
    config = load_config(None, ["model.encoder=resnet10t", "model.members=2", "model.hidden=8", *overrides])
    model, _ = build_model(config.model, TAX)
    return config, model


def _decay_of(optimizer) -> dict[int, float]:
    return {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}


def test_norms_and_biases_get_no_weight_decay_by_default():
    config, model = _model("train.weight_decay=0.05", "train.encoder_lr=0.0001")
    optimizer = build_optimizer(model, config.train)
    decay = _decay_of(optimizer)
    assert len(decay) == sum(1 for p in model.parameters() if p.requires_grad), "every parameter exactly once"
    for name, param in model.named_parameters():
        exempt = param.ndim <= 1 or name.endswith(".bias")  # timm's rule, written out
        assert decay[id(param)] == (0.0 if exempt else 0.05), name
    lrs = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert all(lrs[id(p)] == 0.0001 for p in model.encoder.parameters())
    assert all(lrs[id(p)] == config.train.lr for p in model.head.parameters())


def test_decay_norm_and_bias_decays_everything_as_c_hmcnn():
    config, model = _model("train.weight_decay=0.05", "train.decay_norm_and_bias=true")
    optimizer = build_optimizer(model, config.train)
    assert set(_decay_of(optimizer).values()) == {0.05}
    assert [len(g["params"]) for g in optimizer.param_groups] == [len(list(model.head.parameters())),
                                                                  len(list(model.encoder.parameters()))]


def test_a_frozen_encoder_is_left_out():
    config, model = _model("model.freeze=true")
    optimizer = build_optimizer(model, config.train)
    ids = set(_decay_of(optimizer))
    assert not ids & {id(p) for p in model.encoder.parameters()}
    assert ids == {id(p) for p in model.head.parameters()}


@pytest.mark.parametrize("step, expected",
                         [(0, 0.25), (3, 1.0), (4, 1.0), (14, 0.5 * (1 + math.cos(math.pi * 10 / 16)))])
def test_warm_up_then_cosine(step, expected):
    assert lr_factor(step, total_steps=20, warmup_steps=4, schedule="cosine") == pytest.approx(expected)
