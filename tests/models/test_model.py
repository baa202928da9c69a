import copy

import timm
import torch

from seafloorhmc import Taxonomy, max_constraint
from seafloorhmc.models import EnsembleMLPHead, HierarchicalClassifier, MCDropoutHead


def tiny_taxonomy():
    return Taxonomy.from_paths(["Biota/Echinoderms/Sea stars", "Biota/Echinoderms/Sea urchins", "Biota/Sponges"])


def test_prediction_is_the_mean_of_constrained_member_probabilities(gen):
    tax = tiny_taxonomy()
    model = HierarchicalClassifier(torch.nn.Identity(), EnsembleMLPHead(4, len(tax), members=3, hidden=8), tax).eval()
    x = torch.randn(5, 4, generator=gen)
    pred = model.predict(x)
    logits = model(x)
    expected = torch.stack([torch.sigmoid(max_constraint(logits[m], tax)) for m in range(3)]).mean(0)
    torch.testing.assert_close(pred.probs, expected)
    # consistent: no child above its parent
    for child, parents in enumerate(tax.parents):
        for p in parents:
            assert (pred.probs[:, p] >= pred.probs[:, child] - 1e-6).all()


def test_mc_dropout_samples_the_head_only_and_batchnorm_stays_frozen(gen):
    tax = tiny_taxonomy()
    # encoder dropout before its (removed) classifier: an encoder left in training mode would be random too
    encoder = timm.create_model("test_resnet", num_classes=0, drop_rate=0.5)
    head = MCDropoutHead(encoder.num_features, len(tax), samples=8, hidden=16, dropout=0.5)
    model = HierarchicalClassifier(encoder, head, tax).eval()
    reference = copy.deepcopy(encoder).eval()  # an independent copy, only ever in eval mode
    bn_before = {k: v.clone() for k, v in encoder.state_dict().items() if "running" in k}
    x = torch.randn(3, 3, 32, 32, generator=gen)
    with torch.no_grad():
        expected_features = reference(x)
    torch.manual_seed(7)
    a = model.predict(x)
    torch.manual_seed(7)  # the same dropout masks again, now drawn by the head alone on fixed features
    with torch.no_grad():
        from_reference = torch.sigmoid(max_constraint(head(expected_features), tax))
    assert a.member_probs.shape == (8, 3, len(tax))
    torch.testing.assert_close(a.member_probs, from_reference, msg="members = head samples on eval-mode features")
    b = model.predict(x)
    assert not torch.equal(a.member_probs, b.member_probs), "dropout stays on in the head at inference"
    torch.testing.assert_close(model.features(x), expected_features, msg="the encoder runs in eval mode")
    for k, v in encoder.state_dict().items():
        if k in bn_before:
            assert torch.equal(v, bn_before[k]), f"BatchNorm statistic {k} changed at inference"


def test_frozen_encoder_stays_in_eval_during_training(gen):
    tax = tiny_taxonomy()
    encoder = timm.create_model("test_resnet", num_classes=0).requires_grad_(False)
    model = HierarchicalClassifier(encoder, EnsembleMLPHead(encoder.num_features, len(tax)), tax, freeze_encoder=True)
    model.train()
    assert not encoder.training and model.head.training
