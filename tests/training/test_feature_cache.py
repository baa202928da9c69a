import json
import logging
import os

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from seafloorhmc.config import ConfigError
from seafloorhmc.data.loaders import EpochLoader
from seafloorhmc.datamodule import prepare_data
from seafloorhmc.evaluation import evaluate_checkpoint
from seafloorhmc.models import build_model
from seafloorhmc.models.encoders import build_encoder
from seafloorhmc.runtime import Runtime
from seafloorhmc.testing import write_tiny_image_manifest
from seafloorhmc.training import train
from seafloorhmc.training.feature_cache import (
    FeatureStore,
    cached_feature_bundle,
    encode_samples,
    feature_cache_applies,
    sample_ids,
)
from seafloorhmc.utils.seeding import seed_everything

CPU = torch.device("cpu")


N = 24  # images: 16 train, 4 val, 4 test


@pytest.fixture(scope="module")
def shared_images(tmp_path_factory):
    return write_tiny_image_manifest(tmp_path_factory.mktemp("cache_images"), n_images=N, size=32)


@pytest.fixture
def own_images(tmp_path):
    """A private copy of tiny images that a test may edit."""
    return write_tiny_image_manifest(tmp_path / "images", n_images=N, size=32)


@pytest.fixture
def frozen(image_config, shared_images, tmp_path):
    def make(*overrides, manifest=None):
        return image_config("model.freeze=true", "data.augment=false", f"data.feature_cache={tmp_path / 'cache'}",
                            f"data.annotations={manifest or shared_images}", *overrides)
    return make


@pytest.fixture
def feature_log():
    """The feature cache's log messages during the test, as text."""
    messages: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("seafloorhmc.training.feature_cache")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def encode(config, **kwargs):
    seed_everything(config.seed)  # as the trainer does: the encoder's random init comes from the seed
    bundle = prepare_data(config)
    model, _ = build_model(config.model, bundle.taxonomy, seed=config.seed)
    cached, skipped = cached_feature_bundle(bundle, model.encoder, config, Runtime(CPU), **kwargs)
    return bundle, model, cached, skipped


def direct_features(model, dataset) -> torch.Tensor:
    """The reference: the frozen encoder run on every transformed image, no cache involved."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model.encoder(torch.stack([dataset[i]["image"] for i in range(j, min(j + 5, len(dataset)))]))
                          for j in range(0, len(dataset), 5)])


def test_training_on_cached_features_matches_recomputing_them(frozen, tmp_path):
    cached = train(frozen("loss.node_weights=class-wise", "loss.uncertainty=bma"), tmp_path / "cached")
    recomputed = train(frozen("loss.node_weights=class-wise", "loss.uncertainty=bma", "data.feature_cache=off"),
                       tmp_path / "recomputed")
    assert cached["data"]["feature_cache"]["encoded"] == N and "feature_cache" not in recomputed["data"]
    for key in ("au_prc", "f1", "recall", "loss"):
        assert cached[key] == pytest.approx(recomputed[key], rel=1e-5, abs=1e-6)
    log_a, log_b = ((tmp_path / r / "log.csv").read_text() for r in ("cached", "recomputed"))
    rows_a = np.array([[float(v) for v in r.split(",")[:7]] for r in log_a.splitlines()[1:]])
    rows_b = np.array([[float(v) for v in r.split(",")[:7]] for r in log_b.splitlines()[1:]])
    np.testing.assert_allclose(rows_a, rows_b, rtol=1e-5, atol=1e-6)
    a, b = (load_file(str(tmp_path / r / "model.safetensors")) for r in ("cached", "recomputed"))
    assert a.keys() == b.keys() and any(k.startswith("encoder.") for k in a), "the checkpoint keeps the encoder"
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    # the saved model scores images (not features) the same way
    again = evaluate_checkpoint(tmp_path / "cached", device="cpu")
    assert again["au_prc"] == pytest.approx(cached["au_prc"], rel=1e-5)


def test_features_match_the_encoder_and_are_reused(frozen, feature_log):
    messages = feature_log
    bundle, model, first, _ = encode(frozen())
    assert first.info["feature_cache"] | {"folders": None} == {"folders": None, "encoded": N, "reused": 0, "skipped": 0}
    torch.testing.assert_close(first.train.features, direct_features(model, bundle.train), rtol=1e-5, atol=1e-6)
    _, _, second, _ = encode(frozen())
    assert (second.info["feature_cache"]["encoded"], second.info["feature_cache"]["reused"]) == (0, N)
    assert torch.equal(first.train.features, second.train.features)
    assert f"{N} samples encoded, 0 reused" in messages[0] and f"0 samples encoded, {N} reused" in messages[1]
    assert first.feature_dim is None, "the model keeps its encoder"


def _weights_file(path, seed):
    """A stand-in for a pretrained weights file: the encoder's random init from ``seed``."""
    torch.manual_seed(seed)
    encoder = build_encoder("test_resnet").module
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, str(path))


def test_changing_what_decides_the_features_encodes_again(frozen, tmp_path):
    weights = tmp_path / "encoder.safetensors"
    _weights_file(weights, seed=100)
    base = ["model.pretrained=true", f"model.weights={weights}"]
    assert encode(frozen(*base))[2].info["feature_cache"]["encoded"] == N
    for change in (["model.noise_alpha=0.5"], ["data.image_size=28"], ["data.normalisation=benthicnet"]):
        changed = encode(frozen(*base, *change))[2].info["feature_cache"]
        assert (changed["encoded"], changed["reused"]) == (N, 0), change
    back = encode(frozen(*base))[2].info["feature_cache"]
    assert (back["encoded"], back["reused"]) == (0, N), "the original key is still cached"
    _weights_file(weights, seed=101)  # same file name, other content
    changed = encode(frozen(*base))[2].info["feature_cache"]
    assert (changed["encoded"], changed["reused"]) == (N, 0)


def test_seed_alone_reuses_a_pretrained_encoders_features(frozen, tmp_path):
    weights = tmp_path / "encoder.safetensors"
    _weights_file(weights, seed=100)
    base = ["model.pretrained=true", f"model.weights={weights}"]
    encode(frozen(*base))
    other_seed = encode(frozen(*base, "seed=7"))[2].info["feature_cache"]
    assert (other_seed["encoded"], other_seed["reused"]) == (0, N), "another split of the same images"
    noisy = encode(frozen(*base, "seed=7", "model.noise_alpha=0.3"))[2].info["feature_cache"]
    assert noisy["encoded"] == N, "α mixes in a random init drawn from the seed"


def test_an_edited_image_alone_is_encoded_again(frozen, own_images):
    config = frozen(manifest=own_images)
    bundle, model, _, _ = encode(config)
    image = own_images.parent / "images" / "005.png"
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(image)
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    bundle, model, cached, _ = encode(config)
    assert (cached.info["feature_cache"]["encoded"], cached.info["feature_cache"]["reused"]) == (1, N - 1)
    for split in ("train", "val", "test"):
        dataset, features = getattr(bundle, split), getattr(cached, split).features
        torch.testing.assert_close(features, direct_features(model, dataset), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("identity, encoded_after_touch", [("stat", N), ("content", 0)])
def test_identity_modes_trade_speed_for_robustness(identity, encoded_after_touch, frozen, own_images):
    config = frozen(f"data.feature_cache_identity={identity}", manifest=own_images)
    encode(config)
    for image in (own_images.parent / "images").iterdir():
        os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    assert encode(config)[2].info["feature_cache"]["encoded"] == encoded_after_touch


class Interrupt(RuntimeError):
    pass


def _store_and_dataset(frozen, tmp_path, name):
    config = frozen()
    bundle = prepare_data(config)
    model, _ = build_model(config.model, bundle.taxonomy, seed=config.seed)
    model.eval()
    return FeatureStore(tmp_path / name), bundle.train, torch.no_grad()(model.encoder)


def test_an_interrupted_encode_resumes_after_the_last_complete_shard(frozen, tmp_path):
    store, dataset, encoder = _store_and_dataset(frozen, tmp_path, "interrupted")
    ids = sample_ids(dataset)
    calls = []

    def failing(images):
        calls.append(len(images))
        if len(calls) == 3:
            raise Interrupt("killed")
        return encoder(images)

    with pytest.raises(Interrupt):
        encode_samples(dataset, ids, store, failing, batch_size=4, shard_rows=4)
    manifest = json.loads((store.folder / "manifest.json").read_text())
    assert [s["rows"] for s in manifest["shards"]] == [4, 4], "two complete shards before the third batch failed"
    resumed = encode_samples(dataset, ids, store, encoder, batch_size=4, shard_rows=4)
    assert (resumed.reused, resumed.encoded) == (8, len(dataset) - 8)
    straight = encode_samples(dataset, ids, FeatureStore(tmp_path / "straight"), encoder, batch_size=8)
    torch.testing.assert_close(resumed.features, straight.features, rtol=1e-5, atol=1e-6)


def _break(store, how):
    manifest = json.loads((store.folder / "manifest.json").read_text())
    entry = manifest["shards"][1]
    shard = store.folder / entry["file"]
    if how == "flipped byte":
        blob = bytearray(shard.read_bytes())
        blob[-3] ^= 0xFF
        shard.write_bytes(bytes(blob))
    elif how == "truncated":
        shard.write_bytes(shard.read_bytes()[:100])
    elif how == "deleted":
        shard.unlink()
    elif how == "wrong shape":
        entry["rows"] = 3
        (store.folder / "manifest.json").write_text(json.dumps(manifest))
    return entry["file"]


@pytest.mark.parametrize("how, says", [("flipped byte", "checksum"), ("truncated", "checksum"),
                                       ("deleted", "missing"), ("wrong shape", "mis-shaped")])
def test_a_damaged_shard_is_named_and_encoded_again(how, says, frozen, tmp_path, feature_log):
    store, dataset, encoder = _store_and_dataset(frozen, tmp_path, "cache")
    ids = sample_ids(dataset)
    original = encode_samples(dataset, ids, store, encoder, batch_size=4, shard_rows=8)
    name = _break(store, how)
    messages = feature_log
    store = FeatureStore(store.folder)
    again = encode_samples(dataset, ids, store, encoder, batch_size=4, shard_rows=8)
    assert len(messages) == 1 and name in messages[0] and says in messages[0]
    assert (again.encoded, again.reused) == (8, len(dataset) - 8)
    torch.testing.assert_close(again.features, original.features, rtol=1e-5, atol=1e-6)
    third = encode_samples(dataset, ids, FeatureStore(store.folder), encoder, batch_size=4)
    assert third.encoded == 0 and len(messages) == 1, "the re-encoded shard is whole again"


def test_an_unreadable_manifest_is_named_and_the_folder_rebuilt(frozen, tmp_path, feature_log):
    store, dataset, encoder = _store_and_dataset(frozen, tmp_path, "cache")
    ids = sample_ids(dataset)
    original = encode_samples(dataset, ids, store, encoder, batch_size=4, shard_rows=8)
    (store.folder / "manifest.json").write_text("{not json")
    messages = feature_log
    again = encode_samples(dataset, ids, FeatureStore(store.folder), encoder, batch_size=4)
    assert "manifest.json" in messages[0] and again.encoded == len(dataset)
    torch.testing.assert_close(again.features, original.features, rtol=1e-5, atol=1e-6)


def test_cached_batches_follow_the_image_loaders_order(frozen):
    bundle, _, cached, _ = encode(frozen())
    images = EpochLoader(bundle.train, 8, shuffle=True, seed=0, collate_fn=bundle.collate_fn)
    for epoch in (0, 1):
        images.set_epoch(epoch)
        cached.train.set_epoch(epoch)
        assert [b["index"].tolist() for b in images] == [b["index"].tolist() for b in cached.train]
    row = next(iter(cached.train))
    torch.testing.assert_close(row["target"], bundle.train.targets[row["index"]])


def test_an_unreadable_image_is_skipped_and_never_stored(frozen, own_images, monkeypatch):
    """An image that breaks after the check before training (which would otherwise leave it out)."""
    import seafloorhmc.datamodule as datamodule
    from seafloorhmc.data.checks import ImageCheck

    monkeypatch.setattr(datamodule, "check_images", lambda *args, **kwargs: ImageCheck())
    (own_images.parent / "images" / "000.png").write_bytes(b"not a png")
    config = frozen("data.skip_bad_images=true", manifest=own_images)
    bundle, _, cached, skipped = encode(config)
    assert [p.endswith("000.png") for p, _ in skipped] == [True]
    split = next(s for s in ("train", "val", "test") if getattr(cached, s).present.sum() < len(getattr(bundle, s)))
    batches = getattr(cached, split)
    seen = torch.cat([b["index"] for b in batches])
    assert len(seen) == len(getattr(bundle, split)) - 1 and 0 not in seen.tolist()
    again = encode(config)
    assert again[2].info["feature_cache"]["encoded"] == 0 and len(again[3]) == 1


def test_augmentation_with_a_cache_folder_is_refused(image_config, tmp_path):
    with pytest.raises(ConfigError, match=r"data.feature_cache=.*data.augment=true"):
        image_config("model.freeze=true", "data.augment=true", f"data.feature_cache={tmp_path}")


def test_the_default_falls_back_with_a_message_when_augmenting(image_config, feature_log):
    messages = feature_log
    bundle = prepare_data(image_config("model.freeze=true", "data.augment=true"))
    assert not feature_cache_applies(image_config("model.freeze=true", "data.augment=true"), bundle)
    assert "data.augment=true" in messages[0]
    assert not feature_cache_applies(image_config("model.freeze=true", "data.augment=false", "data.feature_cache=off"),
                                     bundle)
    assert not feature_cache_applies(image_config("data.augment=false"), bundle), "trainable encoder"
    assert len(messages) == 1


def test_the_cells_of_a_sweep_share_one_encode(shared_images, tmp_path, monkeypatch):
    """``seafloorhmc sweep`` cells (other seeds, so other splits; other losses) find one another's
    features through the content key: the first cell encodes every image, the rest none."""
    from seafloorhmc.experiments import expand, run_sweep, sweep_from_dict

    monkeypatch.setattr("seafloorhmc.training.trainer.try_write_run_report", lambda *args, **kwargs: None,
                        raising=False)
    weights = tmp_path / "encoder.safetensors"
    _weights_file(weights, seed=100)
    base = {"data": {"format": "manifest", "annotations": str(shared_images), "image_size": 32, "augment": False,
                     "feature_cache": str(tmp_path / "cache")},
            "model": {"encoder": "test_resnet", "pretrained": True, "weights": str(weights), "freeze": True,
                      "members": 3, "hidden": 16},
            "train": {"epochs": 1, "batch_size": 8, "progress": False}}
    spec = sweep_from_dict({"name": "cached", "base": base,
                            "methods": {"plain": ["loss.uncertainty=none"], "focal": ["loss.uncertainty=bma"]},
                            "grid": {"seed": [0, 1]}})
    cells = expand(spec)
    result = run_sweep(spec, cells, tmp_path / "sweep", workers=1, stats=False)
    assert not result.failed and len(result.finished) == len(cells) == 4
    caches = [json.loads((tmp_path / "sweep" / "runs" / c.id / "metrics.json").read_text())["data"]["feature_cache"]
              for c in cells]
    assert [(c["encoded"], c["reused"]) for c in caches] == [(N, 0)] + [(0, N)] * 3
    assert len({tuple(c["folders"]) for c in caches}) == 1
