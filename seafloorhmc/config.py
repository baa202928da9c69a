"""Run configuration: typed dataclasses read from YAML, overridden with ``--set key=value``.

Every key is declared here with its type and, where it has a fixed set of values, its choices. An
unknown key or an invalid value is refused with the valid alternatives, so a typo cannot silently
fall back to a default. The resolved configuration is saved next to every run.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .choices import (
    Amp,
    CacheIdentity,
    ChannelsLast,
    Decoding,
    GroupBy,
    Head,
    Impute,
    LevelWeighting,
    LprosUpdate,
    LrSchedule,
    MemberType,
    NegativeWeights,
    NodeWeightMode,
    Normalisation,
    Optimizer,
    ParentAnchor,
    Reduction,
    Resample,
    ReviewCalibration,
    Schedule,
    SchedulePer,
    SelectMetric,
    UncertaintyMode,
    UncertaintyOrNone,
    UncertaintySource,
    WeightTarget,
    WeightTargetOrAuto,
)
from .data.readers import FORMATS
from .errors import ConfigError

__all__ = ["Config", "DataConfig", "ModelConfig", "LossConfig", "TrainConfig", "EvalConfig", "ConfigError",
           "load_config", "config_from_dict", "apply_overrides", "parse_override", "set_key", "validate", "describe",
           "config_changes", "RESUMABLE_KEYS", "Range", "NUMERIC_RANGES", "numeric_keys", "default_weight_target"]

#: Keys a run may change when it is resumed: they do not change what is computed on the images that
#: are used. ``data.skip_bad_images`` may be turned on to leave out images found unreadable since.
RESUMABLE_KEYS = frozenset({"train.progress", "train.report", "data.workers", "train.device", "name",
                            "data.skip_bad_images", "data.image_cache"})


def doc(default: Any, text: str) -> Any:
    """A config field with its default and the one-line description ``seafloorhmc keys`` prints."""
    return field(default=default, metadata={"doc": text})


@dataclass
class DataConfig:
    """``data.*``: where the images and labels come from and how samples are made of them."""

    format: str = doc("synthetic", "where the images and labels come from")
    root: str | None = doc(None, "data folder (images; C-HMCNN data root for hmc; output folder for synthetic)")
    annotations: str | None = doc(None, "annotation file (manifest/BIIGLE/SQUIDLE+/CoralNet/BenthicNet CSV)")
    label_tree: str | None = doc(None, "optional label tree (BIIGLE labels.csv: id,name,parent_id)")
    label_map: str | None = doc(None, "CoralNet: CSV mapping label codes to taxon paths (code column Short Code, "
                                      "Label code, Label or code; path column path, taxon_path or name, split on "
                                      "data.separator); coco: category name → taxon path (name/concept + path)")
    dataset: str | None = doc(None, "hmc: dataset name, e.g. cellcycle_FUN, cellcycle_GO, Diatoms_others")
    separator: str = doc(" > ", "separator between taxon path components")
    label_delimiter: str = doc(";", "manifest: separator between several label paths in one cell")
    image_suffix: str = doc("", "SQUIDLE+/BenthicNet: extension appended to image keys without one")
    group_by: GroupBy = doc("auto", "one sample per image, or one patch per point/box/shape (auto: patches for "
                                    "formats that carry points or shapes — coralnet, biigle, squidle, coco — "
                                    "whole images otherwise)")
    patch_size: int = doc(224, "side of the square patch cut around point annotations (pixels); 224 is what "
                               "CoralNet's classifier crops around each point of a full-resolution survey photo")
    image_size: int = doc(224, "network input size (pixels)")
    normalisation: Normalisation = doc("encoder", "input normalisation statistics")
    augment: bool = doc(True, "training augmentation (flips, 90° rotations, colour jitter, random resized crop)")
    min_crop_scale: float = doc(0.5, "smallest image share a random resized crop keeps (1.0: no cropping, so no "
                                     "organism is cut out of a multi-label image)")
    val_fraction: float = doc(0.15, "share of images held out for validation when the data has no split")
    test_fraction: float = doc(0.15, "share of images held out for testing when the data has no split")
    train_fraction: float | None = doc(None, "limited data: keep this share of the training split (nested subsets: "
                                             "the same seed's smaller subsets lie inside the larger; drawn before "
                                             "train_on_val adds the validation rows); null: all")
    train_count: int | None = doc(None, "limited data: keep this many training rows instead of a fraction")
    subsample_seed: int | None = doc(None, "seed of the training subset (null: derived from seed); sweeps derive "
                                           "it from their experiment seed so all methods share the subset")
    hierarchy_aware: bool = doc(False, "subset keeps one example of every node that has one first (rarest nodes "
                                       "first), as far as its size allows")
    resample: Resample = doc("none", "resample the training rows: LPROS clones rows of minority "
                           "label paths (spec §7); node weights still come from the rows before cloning")
    lpros_share: float = doc(0.1, "LPROS budget S = floor(share · annotations)")
    lpros_update: LprosUpdate = doc("parent", "LPROS: a clone's count reaches its term's parent "
                               "only (released code) or every ancestor")
    train_on_val: bool = doc(False, "train on train ∪ val and select no epoch (C-HMCNN protocol); node weights and "
                                    "rare nodes still come from the train split proper")
    single_path: bool = doc(False, "keep only samples whose labels form one root-to-node path (HCAL needs one "
                                   "label per level); the number dropped is reported in the data info")
    skip_bad_images: bool = doc(False, "skip unreadable images (counted and reported) instead of stopping")
    allow_truncated: bool = doc(False, "decode truncated images, filling the missing part with grey")
    max_image_pixels: int | None = doc(89_478_485, "decompression-bomb limit in pixels (null: none)")
    impute: Impute = doc("train", "hmc: missing-value means from train, or per split (C-HMCNN)")
    synthetic_images: int = doc(600, "synthetic: number of images")
    synthetic_size: int = doc(128, "synthetic: image side in pixels")
    synthetic_seed: int = doc(0, "synthetic: generator seed")
    workers: int = doc(0, "data-loading worker processes")
    feature_cache: str = doc("auto", "frozen encoder without augmentation: folder where each image's features are "
                                     "cached once for every run (auto: $SEAFLOORHMC_DATA/features, else "
                                     "~/.cache/seafloorhmc/features; off: recompute them every step)")
    feature_cache_identity: CacheIdentity = doc("stat", "how the feature and image caches recognise an image: "
                                         "path + size + mtime (fast) or a hash of the file (survives copies, "
                                         "reads every image on every run)")
    image_cache: str = doc("auto", "folder where every photo is decoded once into the patches (and shrunk whole "
                                   "images) the datasets cut, reused by every epoch, run and sweep cell (auto: "
                                   "$SEAFLOORHMC_DATA/images, else ~/.cache/seafloorhmc/images, used when samples "
                                   "are patches or photos are large; off: decode every item)")
    patch_margin: float = doc(0.25, "image cache: context stored around each patch, as a share of its side on every "
                                    "side (0.25 covers a rotation by any angle)")
    gpu_decode: bool = doc(False, "decode JPEGs in batches on the GPU (nvJPEG) when building the image cache and "
                                  "in predict, when the model runs on CUDA (ignored on CPU)")


@dataclass
class ModelConfig:
    """``model.*``: the encoder and the hierarchical head."""

    encoder: str = doc("resnet18", "any timm model name (hmc data: ignored, features go straight to the head)")
    pretrained: bool = doc(False, "load pretrained encoder weights from `weights` (no downloads)")
    weights: str | None = doc(None, "local weights file for the encoder (.safetensors or a weights_only .pt/.pth)")
    freeze: bool = doc(False, "freeze the encoder (train the head only)")
    noise_alpha: float = doc(0.0, "weaken the encoder: θ = (1-α)·pretrained + α·random init")
    drop_rate: float = doc(0.0, "encoder dropout before its (removed) classifier")
    members: int = doc(1, "ensemble members / MC-dropout samples")
    member_type: MemberType = doc("ensemble", "batched MLP ensemble or MC-dropout samples of one MLP")
    head: Head = doc("mlp", "head type: C-HMCNN MLP members + max-constraint, or HCAL prototypes (one member, "
                            "levels decided by argmax)")
    hidden: int | None = doc(None, "hidden width of the head (default: the encoder's feature width)")
    head_layers: int = doc(3, "linear layers in the head")
    dropout: float = doc(0.7, "dropout after each hidden layer of the head")
    embedding_dim: int = doc(256, "prototype head: width d of the L2-normalised embedding")
    temperature: float = doc(0.1, "prototype head: τ of the cosine logits cos/τ")
    prototype_noise: float = doc(0.01, "prototype head: ε of the uniform noise on the prototypes while training "
                                       "(0: off)")
    prototype_lr_scale: float = doc(5.0, "prototype head: LR multiplier of the finest level's prototypes, doubled per "
                                         "coarser level (5×, 10×, 20× in HCAL's code)")


@dataclass
class LossConfig:
    """``loss.*``: the rare-node loss (node weights, focal factor, schedules) and HCAL's level weights."""

    node_weights: NodeWeightMode = doc("none", "node-wise imbalance weights")
    omega: float = doc(0.25, "minimum weight ω of the rescaled node weights (and the schedules' target)")
    negative_weights: NegativeWeights = doc("ones", "weights on the other target value")
    weight_target: WeightTargetOrAuto = doc("auto", "targets the rarity weights land on; auto: negative targets "
                                            "(the released code, which reproduces the paper on FunCat) for HMC "
                                            "feature data with node weights, positive targets (what won on the "
                                            "synthetic images' validation split) for images")
    uncertainty: UncertaintyOrNone = doc("none", "focal factor from ensemble uncertainty")
    uncertainty_source: UncertaintySource = doc("raw", "member probabilities before or after the constraint")
    focal_k: float = doc(1.0, "focal exponent k in focal_min + u^k")
    focal_min: float = doc(0.25, "focal floor")
    schedule: Schedule = doc("none", "move weights toward ω")
    schedule_k: float = doc(3.0, "exponent of the exponential schedule")
    schedule_per: SchedulePer = doc("epoch", "ramp restarts every epoch (released code) or spans the run")
    mixed_lambda: float | None = doc(None, "λ·weighted + (1-λ)·plain MCLoss; null: off")
    reduction: Reduction = doc("mean", "reduction over members, examples and nodes")
    level_weighting: LevelWeighting = doc("awa", "prototype head: weights of the "
                                  "level losses (softmax(ℓ/γ) per step, convergence-rate DWA per epoch, 1, Kendall)")
    gamma: float = doc(0.5, "prototype head, awa: γ in softmax(ℓ/γ)")
    dwa_temperature: float = doc(2.0, "prototype head, dwa: temperature T")
    parent_anchor: ParentAnchor = doc("batch_centroid", "prototype head: coarse-level anchors "
                                "are in-batch class centroids (HCAL) or the samples")


@dataclass
class TrainConfig:
    """``train.*``: optimisation, devices, epochs and epoch selection."""

    epochs: int = doc(10, "training epochs")
    batch_size: int = doc(32, "batch size")
    optimizer: Optimizer = doc("adamw", "optimizer")
    lr: float = doc(1e-3, "learning rate")
    encoder_lr: float | None = doc(None, "encoder learning rate (default: lr)")
    weight_decay: float = doc(1e-4, "weight decay")
    decay_norm_and_bias: bool = doc(False, "apply weight decay to normalisation weights and biases too (C-HMCNN's "
                                           "Adam does; timm's param_groups_weight_decay, the default, exempts them)")
    momentum: float = doc(0.9, "SGD momentum")
    warmup_epochs: float = doc(0.0, "linear warm-up length in epochs")
    lr_schedule: LrSchedule = doc("cosine", "learning-rate schedule after warm-up")
    grad_clip: float | None = doc(None, "clip the gradient norm to this value; null: off")
    device: str = doc("auto", "auto, cpu, cuda or cuda:N")
    amp: Amp = doc("auto", "bf16 autocast (auto: on CUDA only)")
    channels_last: ChannelsLast = doc("auto", "channels-last memory format (auto: on CUDA)")
    compile: bool = doc(False, "torch.compile the model")
    select_metric: SelectMetric = doc("au_prc", "validation metric that picks the best epoch (loss, ece and hvr: "
                                                "lowest)")
    eval_every: int = doc(1, "validate every N epochs")
    max_steps_per_epoch: int | None = doc(None, "cap on batches per epoch (smoke tests)")
    deterministic: bool = doc(False, "deterministic kernels (slower)")
    progress: bool = doc(True, "progress bars")
    report: bool = doc(True, "write the run's plots/ and report.html when it finishes (seconds per run; sweeps "
                             "may turn it off and rebuild any with `seafloorhmc report RUN`)")


@dataclass
class EvalConfig:
    """``eval.*``: thresholds, review flags and decoding."""

    threshold: float = doc(0.5, "probability above which a node is predicted")
    review_threshold: float = doc(0.5, "uncertainty above which a prediction needs review, when it is not "
                                       "calibrated (eval.review_calibration=off, or no validation split)")
    review_calibration: ReviewCalibration = doc("precision", "at the end of training choose the review threshold "
                                                "on the validation split: the largest at which the unflagged "
                                                "predictions reach eval.review_target precision, or the one that "
                                                "flags eval.review_share of them; stored with the model")
    review_target: float = doc(0.9, "target precision of the predicted taxa not flagged for review")
    review_share: float = doc(0.2, "review_calibration=flagged_share: share of predicted taxa to flag")
    review_uncertainty: UncertaintyMode = doc("bma", "uncertainty reported with predictions")
    decoding: Decoding = doc("independent", "prototype head: argmax per level (HCAL) or "
                           "the best valid path; the other is reported with its name as prefix")


@dataclass
class Config:
    """A whole run configuration: the seed, the name and the five sections."""

    seed: int = doc(0, "seed for everything")
    name: str = doc("", "run name (empty: the name of the run's output folder)")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        """Plain nested data (what ``config.yaml`` and checkpoints store).

        Returns:
            The configuration as dicts.
        """
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """The configuration as YAML text.

        Returns:
            The text.
        """
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


# ---------------------------------------------------------------------- building and validation
def choices_of(tp: Any) -> tuple[str, ...]:
    """The values a ``Literal`` type (or an optional one) allows; () for other types."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next((choices_of(a) for a in typing.get_args(tp) if choices_of(a)), ())
    return tuple(typing.get_args(tp)) if typing.get_origin(tp) is Literal else ()


def _is_section(tp) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value, tp, key: str):
    """Convert ``value`` to the declared type ``tp`` or raise naming the key."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "~")):
            if type(None) in typing.get_args(tp):
                return None
        return _coerce(value, args[0], key)
    if origin is Literal:
        choices = typing.get_args(tp)
        text = value if isinstance(value, str) else str(value)
        if isinstance(value, bool):  # YAML reads off/on/yes/no as booleans
            text = {True: "on", False: "off"}[value]
        if text not in choices:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(str, choices))}{_suggest(text, choices)}")
        return text
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())
                                           or (isinstance(value, str) and value.strip().lstrip("-").isdigit())):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected text, got {value!r}")
        return str(value)
    return value


def _suggest(key: str, options) -> str:
    close = difflib.get_close_matches(key, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _build(cls, data: dict, prefix: str = ""):
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        section = prefix.rstrip(".") or "the top level"
        raise ConfigError(f"unknown key {prefix + key!r}{_suggest(key, fields)}; valid keys in {section}: "
                          f"{', '.join(fields)}")
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        if _is_section(tp):
            kwargs[name] = _build(tp, value or {}, f"{prefix}{name}.")
            continue
        kwargs[name] = _coerce(value, tp, prefix + name)
    return cls(**kwargs)


def config_from_dict(data: dict | None) -> Config:
    """A validated :class:`Config` from nested plain data (missing keys take their defaults).

    Args:
        data: Nested plain data, as a YAML config file holds it (None: all defaults).

    Returns:
        The config.

    Raises:
        ConfigError: An unknown key, a value of the wrong type or an invalid combination (names the key).
    """
    config = _build(Config, data or {})
    validate(config)
    return config


def set_key(data: dict, dotted: str, value) -> None:
    """Set ``a.b.c`` in nested plain data, refusing sections the schema does not have.

    Args:
        data: Nested plain config data, changed in place.
        dotted: The dotted key.
        value: Its new value (checked later, when the config is built).

    Raises:
        ConfigError: A section in ``dotted`` is not in the schema (suggests the closest one).
    """
    parts = dotted.split(".")
    node = data
    cls = Config
    for i, part in enumerate(parts[:-1]):
        hints = _hints(cls)
        if part not in hints or not _is_section(hints[part]):
            prefix = ".".join(parts[:i])
            options = [k for k, t in hints.items() if _is_section(t)]
            raise ConfigError(f"unknown section {dotted!r}: {part!r}{_suggest(part, options)} is not one of "
                              f"{', '.join(options)}{' in ' + prefix if prefix else ''}")
        cls = hints[part]
        node = node.setdefault(part, {})
        if node is None:
            node = data[part] = {}
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Split a ``key.sub=value`` override; the value is read as YAML, so ``0.5`` is a number and ``[1, 2]`` a list.

    Args:
        text: The override.

    Returns:
        (key, value); text that is not valid YAML stays a string.

    Raises:
        ConfigError: ``text`` has no ``=``.
    """
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value (e.g. loss.omega=0.5)")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_overrides(data: dict, overrides) -> dict:
    """Apply ``key=value`` texts to nested plain config data, in place.

    Args:
        data: Nested plain config data.
        overrides: ``key=value`` texts, applied in order (a later one wins).

    Returns:
        ``data``.
    """
    for text in overrides:
        set_key(data, *parse_override(text))
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config (or start from defaults) and apply ``key=value`` overrides.

    Args:
        path: The YAML file (None: the defaults).
        overrides: ``key=value`` texts applied on top.

    Returns:
        The validated config.

    Raises:
        ConfigError: The file is missing, not YAML or not a mapping, or the config is invalid
            (the message names the file and key).
    """
    data: dict = {}
    if path is not None:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
    apply_overrides(data, overrides)
    try:
        return config_from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}" if path else str(err)) from None


@dataclass(frozen=True)
class Range:
    """The values a numeric key may take: an interval, open or closed at each end, None = unbounded.

    Attributes:
        low: Lower bound (None: none).
        high: Upper bound (None: none).
        low_open: Whether ``low`` itself is excluded.
        high_open: Whether ``high`` itself is excluded.
        why: What a value outside means, for the message.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    why: str = ""

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the interval.

        Args:
            value: The number to test.

        Returns:
            True inside the interval.
        """
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def describe(self) -> str:
        """What a value must do, in words: ``be positive``, ``be at least 1``, ``lie in [0, 1)``.

        Returns:
            The phrase (it follows "must").
        """
        if self.low is not None and self.high is not None:
            return f"lie in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low == 0:
            return "be positive" if self.low_open else "be non-negative"
        if self.low is not None:
            return f"be {'greater than' if self.low_open else 'at least'} {self.low:g}"
        if self.high is not None:
            return f"be {'less than' if self.high_open else 'at most'} {self.high:g}"
        return "be a number"


_POSITIVE = Range(0, low_open=True)
_NON_NEGATIVE = Range(0)
_AT_LEAST_ONE = Range(1)
_SHARE = Range(0, 1)
_PROBABILITY_BELOW_ONE = Range(0, 1, high_open=True)

#: The range of every int/float key (null, where a key allows it, means "off" and is not checked).
#: A test checks that every numeric key of the schema is listed here: a new key declares its range.
NUMERIC_RANGES: dict[str, Range] = {
    "seed": _NON_NEGATIVE,
    "data.patch_size": _AT_LEAST_ONE,
    "data.image_size": _AT_LEAST_ONE,
    "data.min_crop_scale": Range(0, 1, low_open=True),
    "data.val_fraction": _PROBABILITY_BELOW_ONE,
    "data.test_fraction": _PROBABILITY_BELOW_ONE,
    "data.train_fraction": Range(0, 1, low_open=True),
    "data.train_count": _AT_LEAST_ONE,
    "data.subsample_seed": _NON_NEGATIVE,
    "data.lpros_share": Range(0, 1, low_open=True),
    "data.max_image_pixels": Range(1, why="use null for no limit"),
    "data.synthetic_images": _AT_LEAST_ONE,
    "data.synthetic_size": Range(16, why="smaller scenes cannot hold an organism"),
    "data.synthetic_seed": _NON_NEGATIVE,
    "data.workers": _NON_NEGATIVE,
    "data.patch_margin": Range(0, 2, why="a share of the patch side"),
    "model.noise_alpha": _SHARE,
    "model.drop_rate": _PROBABILITY_BELOW_ONE,
    "model.members": _AT_LEAST_ONE,
    "model.hidden": _AT_LEAST_ONE,
    "model.head_layers": _AT_LEAST_ONE,
    "model.dropout": _PROBABILITY_BELOW_ONE,
    "model.embedding_dim": _AT_LEAST_ONE,
    "model.temperature": _POSITIVE,
    "model.prototype_noise": _NON_NEGATIVE,
    "model.prototype_lr_scale": _POSITIVE,
    "loss.omega": _NON_NEGATIVE,
    "loss.focal_k": Range(0, why="a negative exponent makes the weight of a certain node infinite"),
    "loss.focal_min": _NON_NEGATIVE,
    "loss.schedule_k": _POSITIVE,
    "loss.mixed_lambda": _SHARE,
    "loss.gamma": _POSITIVE,
    "loss.dwa_temperature": _POSITIVE,
    "train.epochs": _AT_LEAST_ONE,
    "train.batch_size": _AT_LEAST_ONE,
    "train.lr": Range(0, low_open=True, why="a zero learning rate trains nothing and a negative one climbs the loss"),
    "train.encoder_lr": Range(0, low_open=True, why="to keep the encoder fixed set model.freeze=true"),
    "train.weight_decay": Range(0, why="negative weight decay inflates the weights"),
    "train.momentum": _PROBABILITY_BELOW_ONE,
    "train.warmup_epochs": _NON_NEGATIVE,
    "train.grad_clip": Range(0, low_open=True, why="use null for no clipping"),
    "train.eval_every": _AT_LEAST_ONE,
    "train.max_steps_per_epoch": _AT_LEAST_ONE,
    "eval.threshold": _PROBABILITY_BELOW_ONE,
    "eval.review_threshold": _NON_NEGATIVE,
    "eval.review_target": Range(0, 1, low_open=True),
    "eval.review_share": _PROBABILITY_BELOW_ONE,
}


def numeric_keys(cls=Config, prefix: str = "") -> list[str]:
    """Every int/float key of the schema (optional ones included), dotted.

    Args:
        cls: The config section to list.
        prefix: Dotted prefix of its keys.

    Returns:
        The keys, in declaration order.
    """
    keys = []
    for f in dataclasses.fields(cls):
        tp = _hints(cls)[f.name]
        if _is_section(tp):
            keys += numeric_keys(tp, f"{prefix}{f.name}.")
            continue
        args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
        if any(a in (int, float) for a in args):
            keys.append(prefix + f.name)
    return keys


def _value(config: Config, key: str):
    node = config
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _validate_ranges(config: Config) -> None:
    """Refuse numbers no run can mean (``train.lr=-1``, ``train.weight_decay=-0.1``) before anything runs."""
    for key, allowed in NUMERIC_RANGES.items():
        value = _value(config, key)
        if value is None or allowed.contains(value):
            continue
        why = f" ({allowed.why})" if allowed.why else ""
        raise ConfigError(f"{key} must {allowed.describe()}, got {value:g}{why}")


def validate(config: Config) -> None:
    """Ranges and cross-field checks that single-field types cannot express.

    Args:
        config: The configuration to check.

    Raises:
        ConfigError: Naming the first key that cannot be used, and why.
    """
    _validate_ranges(config)
    if config.model.member_type == "mc_dropout" and config.model.dropout == 0.0:
        raise ConfigError("model.member_type=mc_dropout needs model.dropout > 0")
    if config.model.pretrained and not config.model.weights:
        raise ConfigError(
            "model.pretrained=true needs model.weights=/path/to/weights.safetensors: seafloorhmc never downloads "
            "weights. On a machine with internet access run `python -c \"import timm, safetensors.torch as st; "
            f"m = timm.create_model('{config.model.encoder}', pretrained=True); st.save_file(m.state_dict(), "
            f"'{config.model.encoder}.safetensors')\"` and copy the file here.")
    if config.model.weights and not config.model.pretrained:
        raise ConfigError(f"model.weights={config.model.weights} is only loaded with model.pretrained=true; set it "
                          "(or drop model.weights) so the encoder is not silently left at its random initialisation")
    if config.model.head == "prototype":
        _validate_prototype(config)
    if config.train.warmup_epochs > config.train.epochs:
        raise ConfigError(f"train.warmup_epochs={config.train.warmup_epochs:g} is longer than the run "
                          f"(train.epochs={config.train.epochs}): the learning rate would never reach train.lr")
    if config.data.val_fraction + config.data.test_fraction >= 1.0:
        raise ConfigError("data.val_fraction + data.test_fraction must leave some training data")
    _validate_subsample(config.data)
    if config.data.format not in FORMATS:
        raise ConfigError(f"data.format: {config.data.format!r} is not one of {', '.join(FORMATS.names())}"
                          f"{_suggest(config.data.format, FORMATS.names())}")
    fmt = FORMATS.get(config.data.format)
    if config.loss.weight_target == "auto":
        config.loss.weight_target = default_weight_target(fmt.features, config.loss.node_weights)
    missing = fmt.missing(config.data)
    if missing:
        needs = " and ".join(f"data.{key} ({hint})" for key, hint in missing)
        raise ConfigError(f"data.format={fmt.name} needs {needs}; set it with --set data.{missing[0][0]}=...")
    spelled = {"false": "off", "no": "off", "true": "auto", "yes": "auto"}  # YAML reads off/on as booleans
    config.data.feature_cache = spelled.get(config.data.feature_cache.lower(), config.data.feature_cache)
    if not config.data.feature_cache.strip():
        raise ConfigError("data.feature_cache is empty: use auto, off, or a folder for the cached features")
    config.data.image_cache = spelled.get(config.data.image_cache.lower(), config.data.image_cache)
    if not config.data.image_cache.strip():
        raise ConfigError("data.image_cache is empty: use auto, off, or a folder for the cached patches")
    if config.model.freeze and config.data.augment and config.data.feature_cache not in ("auto", "off"):
        raise ConfigError(f"data.feature_cache={config.data.feature_cache} with data.augment=true: augmentation "
                          "changes an image's features every epoch, so cached features would be wrong; set "
                          "data.augment=false, or data.feature_cache=off to recompute them")


def default_weight_target(features: bool, node_weights: str) -> WeightTarget:
    """What ``loss.weight_target=auto`` becomes, from the evidence in docs/results.md.

    Args:
        features: The data format holds feature rows (the HMC benchmarks) rather than images.
        node_weights: ``loss.node_weights``; without node weights the target changes nothing and stays
            ``positive``, as configs saved before ``auto`` existed have it.

    Returns:
        ``negative`` for HMC feature data with node weights, else ``positive``.
    """
    return "negative" if features and node_weights != "none" else "positive"


def _validate_prototype(config: Config) -> None:
    """The prototype head has one member and its own loss: refuse settings it would ignore."""
    m, loss = config.model, config.loss
    if m.members != 1 or m.member_type != "ensemble":
        raise ConfigError(f"model.head=prototype has a single member: set model.members=1 and "
                          f"model.member_type=ensemble (got {m.members}, {m.member_type})")
    rare_node = {"loss.node_weights": (loss.node_weights, "none"), "loss.uncertainty": (loss.uncertainty, "none"),
                 "loss.schedule": (loss.schedule, "none"), "loss.mixed_lambda": (loss.mixed_lambda, None)}
    for key, (value, off) in rare_node.items():
        if value != off:
            raise ConfigError(f"{key}={value} belongs to the rare-node loss, which model.head=prototype does not use; "
                              f"set {key}={off if off is not None else 'null'}")


def _validate_subsample(d: DataConfig) -> None:
    """Limited-data and resampling keys: one size, and no LPROS with the single-path filter."""
    if d.train_fraction is not None and d.train_count is not None:
        raise ConfigError(f"data.train_fraction={d.train_fraction} and data.train_count={d.train_count}: "
                          "give one of them, not both")
    if d.resample == "lpros" and d.single_path:
        raise ConfigError("data.resample=lpros with data.single_path=true is not supported: the single-path filter "
                          "would recompute node weights from the cloned rows; drop one of them")


def describe(cls=Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """Every key with its default and description: the reference table in the docs and ``--help``.

    Args:
        cls: The section to describe (default: the whole config).
        prefix: Prepended to the keys (``data.`` for a section).

    Returns:
        (dotted key, repr of the default, description with its choices) per key.
    """
    rows = []
    for f in dataclasses.fields(cls):
        tp = _hints(cls)[f.name]
        if _is_section(tp):
            rows += describe(tp, f"{prefix}{f.name}.")
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        text = f.metadata.get("doc", "")
        options = choices_of(tp) or (FORMATS.names() if (prefix, f.name) == ("data.", "format") else ())
        if options:
            text += f" ({' | '.join(map(str, options))})"
        rows.append((prefix + f.name, repr(default), text))
    return rows


def config_changes(saved: dict, config: Config) -> list[str]:
    """Dotted keys in which ``config`` differs from a run's ``saved`` config, ignoring :data:`RESUMABLE_KEYS`.

    Keys added to the library since the run was saved take their defaults (not "changed"); a key
    this version no longer knows shows up by name.

    Args:
        saved: A run's saved config, as plain data.
        config: The config about to be used.

    Returns:
        The changed keys, sorted.
    """
    try:
        saved = config_from_dict(saved).to_dict()
    except ConfigError:
        pass
    return sorted(_config_diff(saved, config.to_dict()) - RESUMABLE_KEYS)


def _config_diff(a: dict, b: dict, prefix: str = "") -> set[str]:
    keys = set(a) | set(b)
    diff = set()
    for key in keys:
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            diff |= _config_diff(va, vb, f"{prefix}{key}.")
        elif va != vb:
            diff.add(prefix + key)
    return diff
