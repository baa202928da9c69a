"""Fixed choices are declared once (choices.py) and match what implements them."""

from __future__ import annotations

from typing import get_args

import pytest

from seafloorhmc import choices
from seafloorhmc.config import ConfigError, choices_of, describe, load_config
from seafloorhmc.losses import LOSSES
from seafloorhmc.models import HEADS
from seafloorhmc.uncertainty import MODES


def test_registries_hold_exactly_the_declared_names():
    assert set(HEADS) == set(get_args(choices.Head))
    assert {spec.loss for _, spec in HEADS.items()} <= set(LOSSES)
    assert set(MODES) == set(get_args(choices.UncertaintyMode))
    assert set(get_args(choices.UncertaintyOrNone)) == {"none", *MODES}


@pytest.mark.parametrize("key, bad, options", [
    ("model.head", "mpl", "mlp | prototype"),
    ("loss.uncertainty", "bam", "none | bma"),
    ("train.select_metric", "auprc", "au_prc"),
    ("data.group_by", "points", "image"),
])
def test_a_bad_choice_is_refused_when_the_config_loads(key, bad, options):
    with pytest.raises(ConfigError, match=rf"{key}: '{bad}' is not one of"):
        load_config(None, [f"{key}={bad}"])
    described = {k: text for k, _, text in describe()}
    assert options.split(" | ")[0] in described[key]


def test_select_metric_choices_are_all_metrics_of_a_validation_split():
    """Every choice of train.select_metric is a number evaluation produces (loss and path_accuracy aside)."""
    import numpy as np

    from seafloorhmc.metrics import evaluate
    from seafloorhmc.testing.reference import random_targets, random_taxonomy

    tax = random_taxonomy(30, seed=1)
    targets = random_targets(tax, 40, seed=1).numpy()
    probs = np.clip(targets * 0.6 + np.random.default_rng(1).random(targets.shape) * 0.4, 0, 1)
    scores = evaluate(probs, targets, tax, train_targets=targets)
    produced = {k for k, v in scores.items() if isinstance(v, float)}
    declared = set(get_args(choices.SelectMetric)) - {"loss", "path_accuracy"}  # from the loop / per-level heads
    assert declared <= produced, declared - produced


def test_choices_of_reads_literals_and_optionals():
    assert choices_of(choices.Decoding) == ("independent", "consistent")
    assert choices_of(choices.Decoding | None) == ("independent", "consistent")
    assert choices_of(int) == ()
