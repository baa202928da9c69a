"""HCAL loss: hand-computed level losses, centroid aggregation, AWA / DWA / Kendall weighting."""

import math

import pytest
import torch

from seafloorhmc import Taxonomy
from seafloorhmc.config import load_config
from seafloorhmc.levels import LevelsError, TaxonomyLevels
from seafloorhmc.losses.hcal import HCALLoss, awa_weights, centroid_logits, dwa_weights, level_losses
from seafloorhmc.models.prototype import PrototypeHead

# Two levels, three samples: R > {A > {A1, A2}, B > {B1}}; slots: level 1 [A, B], level 2 [A1, A2, B1]
TAX = Taxonomy.from_paths(["R/A/A1", "R/A/A2", "R/B/B1"])
LOGITS = torch.tensor([[2.0, 0.0, 1.0, 0.0, 0.0],   # sample 0: A1
                       [1.0, 1.0, 0.0, 2.0, 0.0],   # sample 1: A2
                       [0.0, 3.0, 0.0, 0.0, 1.0]])  # sample 2: B1
TARGETS = TAX.encode_batch([["R/A/A1"], ["R/A/A2"], ["R/B/B1"]])[0]
e = math.e
# finest level: plain cross-entropy per sample
FINE = ((math.log(e + 2) - 1) + (math.log(2 + e ** 2) - 2) + (math.log(2 + e) - 1)) / 3
# coarse level, batch centroids: class A = mean of rows 0 and 1 = [1.5, 0.5]; class B = row 2 = [0, 3]
COARSE_CENTROID = ((math.log(e ** 1.5 + e ** 0.5) - 1.5) + (math.log(1 + e ** 3) - 3)) / 2
# coarse level, sample anchors
COARSE_SAMPLE = ((math.log(e ** 2 + 1) - 2) + (math.log(2 * e) - 1) + (math.log(1 + e ** 3) - 3)) / 3


def test_level_losses_by_hand():
    levels = TaxonomyLevels(TAX)
    slots = levels.encode(TARGETS)
    losses, present = level_losses(LOGITS, slots, levels, "batch_centroid")
    assert losses.tolist() == pytest.approx([COARSE_CENTROID, FINE])
    assert present.tolist() == [True, True]
    losses, _ = level_losses(LOGITS, slots, levels, "sample")
    assert losses.tolist() == pytest.approx([COARSE_SAMPLE, FINE])


def test_awa_weights_are_softmax_of_losses_over_gamma_and_carry_no_gradient():
    loss_fn = HCALLoss(TAX, level_weighting="awa", gamma=0.5)
    logits = LOGITS.clone().requires_grad_(True)
    total = loss_fn(logits.unsqueeze(0), TARGETS)
    z = [COARSE_CENTROID / 0.5, FINE / 0.5]
    lam = [math.exp(v) / (math.exp(z[0]) + math.exp(z[1])) for v in z]
    assert loss_fn.last_weights.tolist() == pytest.approx(lam)
    assert total.item() == pytest.approx(lam[0] * COARSE_CENTROID + lam[1] * FINE)
    (grad_total,) = torch.autograd.grad(total, logits)
    # λ held constant: the gradient is Σ λ_k ∇ℓ_k, no term from ∂λ/∂ℓ
    levels = TaxonomyLevels(TAX)
    losses, _ = level_losses(logits, levels.encode(TARGETS), levels)
    grads = [torch.autograd.grad(losses[k], logits, retain_graph=True)[0] for k in range(2)]
    assert torch.allclose(grad_total, lam[0] * grads[0] + lam[1] * grads[1], atol=1e-6)
    weights = awa_weights(torch.tensor([1.0, 1.0, 5.0]), torch.tensor([True, True, False]), 0.5)
    assert weights.tolist() == [0.5, 0.5, 0.0]


def test_centroid_aggregation_equals_explicit_per_class_means_of_embeddings():
    torch.manual_seed(0)
    head = PrototypeHead(6, TAX, embedding_dim=8, temperature=0.1, noise=0.0).eval()
    features = torch.randn(7, 6)
    labels = torch.tensor([1, 0, 1, 1, 0, 1, 1])
    f = head.embedding(features)
    prototypes = head.prototype_matrix()[:2]                      # level-1 prototypes, normalised
    sample_logits = head(features)[0, :, :2]
    got, classes = centroid_logits(sample_logits, labels)
    assert classes.tolist() == [0, 1]
    for row, c in enumerate(classes.tolist()):
        members = [i for i in range(7) if labels[i] == c]
        centroid = sum(f[i] for i in members) / len(members)       # not re-normalised (spec §1.3)
        assert torch.allclose(got[row], centroid @ prototypes.T / 0.1, atol=1e-5)


def test_dwa_weights_from_a_hand_computed_history():
    # L̄(t-2) = [2.0, 1.0], L̄(t-1) = [1.0, 0.9] → r = [0.5, 0.9], λ = 2·softmax(r / 2)
    lam = dwa_weights(torch.tensor([1.0, 0.9]), torch.tensor([2.0, 1.0]), 2.0)
    total = math.exp(0.25) + math.exp(0.45)
    expected = [2 * math.exp(0.25) / total, 2 * math.exp(0.45) / total]
    assert lam.tolist() == pytest.approx(expected)
    assert dwa_weights(torch.tensor([1.0, float("nan")]), torch.tensor([0.0, 1.0]), 2.0).tolist() == [1.0, 1.0]


def test_dwa_uses_ones_for_two_epochs_then_the_epoch_mean_loss_ratios():
    loss_fn = HCALLoss(TAX, level_weighting="dwa", dwa_temperature=2.0)
    a, b = LOGITS, LOGITS * 0.5
    levels = TaxonomyLevels(TAX)
    slots = levels.encode(TARGETS)
    la, lb = (level_losses(x, slots, levels)[0] for x in (a, b))
    # epoch 0: two steps (a, b) → mean (la + lb) / 2; an evaluation pass (no grad) does not count
    for x in (a, b):
        total = loss_fn(x.unsqueeze(0), TARGETS)
        assert loss_fn.last_weights.tolist() == [1.0, 1.0]
        assert total.item() == pytest.approx(float(la.sum() if x is a else lb.sum()))
    with torch.no_grad():
        loss_fn(LOGITS.unsqueeze(0) * 7, TARGETS)
    loss_fn.on_epoch_end(0)
    assert loss_fn.epoch_means[1].tolist() == pytest.approx(((la + lb) / 2).tolist())
    loss_fn(b.unsqueeze(0), TARGETS)           # epoch 1: still λ = 1
    assert loss_fn.last_weights.tolist() == [1.0, 1.0]
    loss_fn.on_epoch_end(1)
    r = lb / ((la + lb) / 2)
    expected = 2 * torch.softmax(r / 2.0, 0)
    loss_fn(a.unsqueeze(0), TARGETS)           # epoch 2: λ from the two epoch means
    assert loss_fn.last_weights.tolist() == pytest.approx(expected.tolist())
    # the state is a buffer: a copy restored from state_dict continues identically
    other = HCALLoss(TAX, level_weighting="dwa")
    other.load_state_dict(loss_fn.state_dict())
    assert float(other(a.unsqueeze(0), TARGETS)) == pytest.approx(float((expected * la).sum()))


def test_uncertainty_weighting_is_kendall_with_learned_log_variances():
    loss_fn = HCALLoss(TAX, level_weighting="uncertainty")
    with torch.no_grad():
        loss_fn.log_vars.copy_(torch.tensor([0.5, -0.2]))
    total = loss_fn(LOGITS.unsqueeze(0), TARGETS)
    expected = (math.exp(-0.5) * COARSE_CENTROID + math.exp(0.2) * FINE) / 2 + 0.5 - 0.2
    assert total.item() == pytest.approx(expected)
    total.backward()
    assert loss_fn.log_vars.grad.tolist() == pytest.approx(
        [1 - math.exp(-0.5) * COARSE_CENTROID / 2, 1 - math.exp(0.2) * FINE / 2])


def test_masked_levels_drop_out_and_partial_labels_still_train_coarse_levels():
    levels = TaxonomyLevels(TAX)
    partial = TAX.encode_batch([["R/A"], ["R/B"]])[0]          # no level-2 label at all
    loss_fn = HCALLoss(TAX, level_weighting="awa")
    total = loss_fn(LOGITS[:2].unsqueeze(0), partial)
    coarse, _ = level_losses(LOGITS[:2], levels.encode(partial), levels)
    assert loss_fn.last_weights.tolist() == [1.0, 0.0]
    assert total.item() == pytest.approx(float(coarse[0]))


def test_multi_path_training_data_is_refused_naming_the_sample():
    targets = TAX.encode_batch([["R/A/A1"], ["R/A/A1", "R/B/B1"]])[0]
    config = load_config(None, ["model.head=prototype"])
    with pytest.raises(LevelsError, match=r"images/b\.png has 2 label paths \('R/A/A1', 'R/B/B1'\)"):
        HCALLoss.from_config(config, TAX, targets, describe_row=lambda i: ["images/a.png", "images/b.png"][i])
    with pytest.raises(LevelsError, match=r"training sample 1 has 2 label paths"):
        HCALLoss.from_config(config, TAX, targets)
    with pytest.raises(LevelsError, match=r"batch row 1 has 2 label paths"):
        HCALLoss(TAX)(LOGITS[:2].unsqueeze(0), targets)


@pytest.mark.parametrize("kwargs, message", [
    ({"level_weighting": "fixed"}, "level_weighting must be one of awa, dwa, equal, uncertainty, got 'fixed'"),
    ({"parent_anchor": "mean"}, "parent_anchor must be one of batch_centroid, sample, got 'mean'"),
    ({"gamma": 0.0}, "gamma and dwa_temperature must be positive"),
])
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HCALLoss(TAX, **kwargs)
