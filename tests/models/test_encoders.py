import pytest
import timm
import torch
from safetensors.torch import save_file

from seafloorhmc.models.encoders import EncoderError, build_encoder, load_encoder_weights

ARCH = "resnet10t"


class Payload:
    """Stands for arbitrary pickled code, which weights_only loading must refuse."""


@pytest.fixture(scope="module")
def pretrained_file(tmp_path_factory):
    torch.manual_seed(0)
    model = timm.create_model(ARCH, pretrained=False)  # with its 1000-class classifier
    path = tmp_path_factory.mktemp("w") / f"{ARCH}.safetensors"
    save_file(model.state_dict(), str(path))
    return path, model.state_dict()


def test_loads_safetensors_and_drops_classifier(pretrained_file):
    path, saved = pretrained_file
    encoder = build_encoder(ARCH, weights=path)
    state = encoder.module.state_dict()
    assert all(torch.equal(state[k], saved[k]) for k in state)
    assert encoder.module(torch.randn(1, 3, 64, 64)).shape == (1, encoder.num_features)


@pytest.mark.parametrize("wrap", ["state_dict", "model", "module_prefix"])
def test_loads_wrapped_weights_only_checkpoints(pretrained_file, tmp_path, wrap):
    path, saved = pretrained_file
    data = dict(saved)
    if wrap == "module_prefix":
        data = {"module." + k: v for k, v in data.items()}
    else:
        data = {wrap: data, "epoch": 3}
    ckpt = tmp_path / "ckpt.pth"
    torch.save(data, ckpt)
    encoder = build_encoder(ARCH, weights=ckpt)
    key = next(iter(encoder.module.state_dict()))
    assert torch.equal(encoder.module.state_dict()[key], saved[key])


def test_refuses_pickled_code(tmp_path):
    ckpt = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": Payload()}, ckpt)
    with pytest.raises(EncoderError, match="evil.pt"):
        build_encoder(ARCH, weights=ckpt)


def test_mismatched_weights_are_named(pretrained_file, tmp_path):
    other = tmp_path / "resnet18.safetensors"
    save_file(timm.create_model("resnet18").state_dict(), str(other))
    with pytest.raises(EncoderError, match=r"resnet18.safetensors.*(shape|missing|unexpected)"):
        build_encoder(ARCH, weights=other)
    with pytest.raises(EncoderError, match="does not exist"):
        build_encoder(ARCH, weights=tmp_path / "nope.safetensors")


def test_noise_mixing_interpolates_with_a_seeded_random_init(pretrained_file):
    path, saved = pretrained_file
    half = build_encoder(ARCH, weights=path, noise_alpha=0.5, noise_seed=3).module.state_dict()
    torch.manual_seed(3)
    fresh = timm.create_model(ARCH, pretrained=False, num_classes=0).state_dict()
    for key, value in half.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.5 * saved[key] + 0.5 * fresh[key])
        else:
            assert torch.equal(value, saved[key])
    random = build_encoder(ARCH, weights=path, noise_alpha=1.0, noise_seed=3).module.state_dict()
    key = "conv1.0.weight"
    torch.testing.assert_close(random[key], fresh[key])


def test_freeze_stops_gradients():
    encoder = build_encoder(ARCH, freeze=True)
    assert not any(p.requires_grad for p in encoder.module.parameters())


def test_unknown_encoder_is_named():
    with pytest.raises(EncoderError, match="not_a_model"):
        build_encoder("not_a_model")


def test_load_weights_counts_tensors(pretrained_file):
    path, _ = pretrained_file
    model = timm.create_model(ARCH, num_classes=0)
    assert load_encoder_weights(model, path) == len(model.state_dict())
