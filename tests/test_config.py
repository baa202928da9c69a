import pytest
import yaml

from seafloorhmc.config import Config, ConfigError, config_changes, config_from_dict, describe, load_config


def write(tmp_path, data) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_defaults_round_trip_through_yaml(tmp_path):
    config = load_config(None)  # the defaults as a run sees them (loss.weight_target=auto resolved)
    assert config.loss.weight_target == "positive" and Config().loss.weight_target == "auto"
    again = load_config(write(tmp_path, yaml.safe_load(config.to_yaml())))
    assert again == config


def test_overrides_are_typed(tmp_path):
    config = load_config(write(tmp_path, {"loss": {"omega": 0.5}}),
                         ["loss.node_weights=class-wise", "model.members=8", "train.grad_clip=1.5",
                          "loss.mixed_lambda=null", "data.augment=false", "seed=7"])
    assert config.loss.omega == 0.5 and config.loss.node_weights == "class-wise"
    assert config.model.members == 8 and config.train.grad_clip == 1.5
    assert config.loss.mixed_lambda is None and config.data.augment is False and config.seed == 7


@pytest.mark.parametrize(
    "override, message",
    [
        ("loss.focla_k=2", r"unknown key 'loss.focla_k'.*did you mean 'focal_k'.*valid keys in loss"),
        ("los.omega=1", r"unknown section 'los.omega'.*did you mean 'loss'"),
        ("loss.uncertainty=entropy", r"loss.uncertainty: 'entropy' is not one of none, bma"),
        ("model.members=two", r"model.members: expected an integer, got 'two'"),
        ("data.augment=maybe", r"data.augment: expected true or false"),
        ("model.members=0", r"model.members must be at least 1"),
        ("omega", r"must look like key=value"),
    ],
)
def test_bad_keys_and_values_name_the_choices(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_unknown_key_in_file_names_the_file(tmp_path):
    path = write(tmp_path, {"train": {"epoch": 3}})
    with pytest.raises(ConfigError, match=r"c.yaml: unknown key 'train.epoch'.*did you mean 'epochs'"):
        load_config(path)


def test_pretrained_without_file_says_how_to_supply_one():
    with pytest.raises(ConfigError, match=r"model.weights=.*never downloads.*save_file"):
        config_from_dict({"model": {"pretrained": True}})


def test_hmc_needs_root_and_dataset():
    needs_root = r"data.format=hmc needs data.root \(the C-HMCNN data folder\); set it with --set data.root="
    with pytest.raises(ConfigError, match=needs_root):
        config_from_dict({"data": {"format": "hmc", "dataset": "cellcycle_FUN"}})


def test_describe_lists_every_leaf_key():
    keys = {row[0] for row in describe()}
    assert {"loss.node_weights", "loss.omega", "loss.weight_target", "loss.uncertainty", "loss.focal_k",
            "loss.focal_min", "loss.schedule", "loss.mixed_lambda", "model.members", "model.member_type",
            "seed"} <= keys


def test_every_numeric_key_declares_its_range():
    """A key added without a range would accept any number; the table is the one place ranges live."""
    from seafloorhmc.config import NUMERIC_RANGES, numeric_keys

    assert set(numeric_keys()) == set(NUMERIC_RANGES)
    assert {"train.lr", "train.weight_decay", "data.max_image_pixels", "seed"} <= set(numeric_keys())


@pytest.mark.parametrize("override, message", [
    ("train.lr=-1", "train.lr must be positive, got -1 (a zero learning rate trains nothing and a negative one"),
    ("train.lr=0", "train.lr must be positive, got 0"),
    ("train.encoder_lr=0", "train.encoder_lr must be positive, got 0 (to keep the encoder fixed set model.freeze"),
    ("train.weight_decay=-1e-4", "train.weight_decay must be non-negative, got -0.0001"),
    ("train.momentum=1", "train.momentum must lie in [0, 1), got 1"),
    ("train.grad_clip=0", "train.grad_clip must be positive, got 0 (use null for no clipping)"),
    ("train.eval_every=0", "train.eval_every must be at least 1"),
    ("train.epochs=0", "train.epochs must be at least 1"),
    ("train.batch_size=0", "train.batch_size must be at least 1"),
    ("data.patch_size=0", "data.patch_size must be at least 1"),
    ("data.max_image_pixels=0", "data.max_image_pixels must be at least 1, got 0 (use null for no limit)"),
    ("data.synthetic_size=8", "data.synthetic_size must be at least 16"),
    ("model.dropout=1", "model.dropout must lie in [0, 1)"),
    ("loss.schedule_k=0", "loss.schedule_k must be positive"),
    ("loss.gamma=-1", "loss.gamma must be positive"),
    ("eval.threshold=1.5", "eval.threshold must lie in [0, 1)"),
    ("eval.review_threshold=-0.1", "eval.review_threshold must be non-negative"),
    ("seed=-1", "seed must be non-negative"),
    ("train.lr=.inf", "train.lr: expected a finite number, got inf"),
    ("loss.omega=.nan", "loss.omega: expected a finite number"),
])
def test_meaningless_numbers_are_refused_naming_the_key(override, message):
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert message in str(caught.value)


def test_numbers_at_the_edges_of_their_ranges_are_accepted():
    config = load_config(None, ["train.momentum=0", "model.dropout=0", "eval.threshold=0", "loss.omega=0",
                                "train.weight_decay=0", "data.max_image_pixels=null", "train.grad_clip=null"])
    assert config.train.momentum == 0.0 and config.data.max_image_pixels is None
@pytest.mark.parametrize("data, weights, expected", [
    (["data.format=hmc", "data.root=/data", "data.dataset=cellcycle_FUN"], "class-wise", "negative"),
    (["data.format=hmc", "data.root=/data", "data.dataset=cellcycle_FUN"], "binary", "negative"),
    (["data.format=hmc", "data.root=/data", "data.dataset=cellcycle_FUN"], "none", "positive"),
    (["data.format=synthetic"], "class-wise", "positive"),
    (["data.format=manifest", "data.annotations=labels.csv"], "binary", "positive"),
])
def test_weight_target_auto_resolves_per_data_kind_when_the_config_loads(data, weights, expected):
    """HMC feature data: the released code's negative targets (they reproduce the paper on FunCat);
    images: positive targets (docs/results.md); both choices stay available explicitly."""
    config = load_config(None, [*data, f"loss.node_weights={weights}"])
    assert config.loss.weight_target == expected
    assert config.to_dict()["loss"]["weight_target"] == expected, "the saved config names what ran"
    assert config_changes(config.to_dict(), config) == []
    for explicit in ("positive", "negative"):
        chosen = load_config(None, [*data, f"loss.node_weights={weights}", f"loss.weight_target={explicit}"])
        assert chosen.loss.weight_target == explicit


def test_echinoderms_config_is_the_papers_vision_protocol():
    """configs/echinoderms.yaml against spec §8.3 / §5 (the released focal script), value by value."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "configs" / "echinoderms.yaml"
    c = load_config(path, ["data.annotations=echinoderms.csv", "data.root=/data", "model.weights=rn50.safetensors"])
    assert (c.model.encoder, c.model.pretrained, c.model.freeze) == ("resnet50", True, False)  # full fine-tuning
    assert (c.model.members, c.model.member_type, c.model.head_layers, c.model.hidden, c.model.dropout) == (
        20, "ensemble", 3, None, 0.7)  # hidden None: the encoder's 2048 features, d → d → d
    assert (c.data.image_size, c.data.normalisation, c.data.augment) == (224, "benthicnet", False)
    assert (c.loss.node_weights, c.loss.omega, c.loss.weight_target, c.loss.negative_weights) == (
        "class-wise", 0.25, "negative", "ones")
    assert (c.loss.uncertainty, c.loss.focal_k, c.loss.focal_min, c.loss.reduction) == ("bma", 1.0, 0.25, "sum")
    assert (c.train.optimizer, c.train.lr, c.train.weight_decay, c.train.decay_norm_and_bias) == (
        "adam", 1e-3, 1e-4, True)
    assert (c.train.epochs, c.train.batch_size, c.train.lr_schedule, c.train.warmup_epochs) == (20, 128, "constant", 0)
    assert c.data.val_fraction == 0.0, "no epoch selection: the last epoch is tested"
