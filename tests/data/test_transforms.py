"""Transforms: normalisation presets, eval geometry, and seeded reproducible augmentation."""

from __future__ import annotations

import random

import albumentations as A
import cv2
import numpy as np
import pytest
import torch

from seafloorhmc.data.transforms import (
    NORMALISATION,
    eval_transform,
    item_seed,
    normalisation_for,
    seed_transform,
    train_transform,
)

BENTHICNET = ((0.359, 0.413, 0.386), (0.219, 0.215, 0.209))


@pytest.fixture
def photo() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)


def test_presets_and_names():
    assert normalisation_for("benthicnet") == BENTHICNET
    assert normalisation_for(" ImageNet ") == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert set(NORMALISATION) == {"imagenet", "benthicnet"}
    with pytest.raises(ValueError, match="unknown normalisation 'coco'.*encoder, benthicnet, imagenet"):
        normalisation_for("coco")


def test_encoder_statistics_come_from_timm_pretrained_config():
    timm = pytest.importorskip("timm")
    for name in ("resnet18", "vit_tiny_patch16_224", "convnext_atto"):
        model = timm.create_model(name, pretrained=False, num_classes=0)
        config = timm.data.resolve_model_data_config(model)
        assert normalisation_for("encoder", name) == (tuple(config["mean"]), tuple(config["std"])), name
    assert normalisation_for("encoder", "no_such_model") == normalisation_for("imagenet"), "a model without stats"
    assert normalisation_for("encoder", None) == normalisation_for("imagenet")


def test_run_transforms_follow_the_config():
    from seafloorhmc.config import load_config
    from seafloorhmc.data.transforms import eval_transform_for, train_transform_for

    config = load_config(None, ["data.image_size=48", "data.normalisation=benthicnet", "data.min_crop_scale=0.9"])
    grey = np.full((100, 120, 3), 128, dtype=np.uint8)
    out = eval_transform_for(config)(image=grey)["image"]
    mean, std = BENTHICNET
    expected = torch.tensor([(128 / 255 - m) / s for m, s in zip(mean, std)]).view(3, 1, 1).expand(3, 48, 48)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    crop = next(t for t in train_transform_for(config).transforms if type(t).__name__ == "RandomResizedCrop")
    assert tuple(crop.scale) == (0.9, 1.0) and tuple(crop.size) == (48, 48)


def test_eval_transform_normalises_each_channel():
    grey = np.full((300, 400, 3), (10, 128, 250), dtype=np.uint8)
    out = eval_transform(224, *BENTHICNET)(image=grey)["image"]
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in BENTHICNET)
    expected = (torch.tensor([10, 128, 250.0]).view(3, 1, 1) / 255 - mean) / std
    torch.testing.assert_close(out, expected.expand(3, 224, 224))


def test_eval_transform_resizes_shorter_side_then_centre_crops():
    # 384 rows x 512 columns, left half dark, right half bright. Resize → 256 x 341, crop 224
    # starting at column (341 - 224) // 2 = 58, so the half boundary (170.7) lands near column 112.
    image = np.zeros((384, 512, 3), dtype=np.uint8)
    image[:, 256:] = 255
    out = eval_transform(224, mean=(0, 0, 0), std=(1, 1, 1))(image=image)["image"]
    assert out.shape == (3, 224, 224)
    assert (out[:, :, :110] == 0).all() and (out[:, :, 115:] == 1).all()
    # a 1:2 crop box: rows resized to 256 * 8 / 7, then 112 x 224 cut from the middle
    tall = eval_transform((224, 112), mean=(0, 0, 0), std=(1, 1, 1))(image=image)["image"]
    assert tall.shape == (3, 224, 112)


def test_eval_transform_equals_a_hand_computed_resize_crop_normalise(photo):
    """120 × 160 → shorter side round(64 · 256/224) = 73, so 73 × 97 (OpenCV area resampling when
    shrinking), centre 64 × 64 crop from row (73 − 64) // 2 = 4 and column (97 − 64) // 2 = 16."""
    mean, std = np.array([0.5, 0.4, 0.3], dtype=np.float32), np.array([0.2, 0.25, 0.3], dtype=np.float32)
    small = cv2.resize(photo, (97, 73), interpolation=cv2.INTER_AREA)[4:68, 16:80].astype(np.float32) / 255
    expected = torch.from_numpy((small - mean) / std).permute(2, 0, 1)
    transform = eval_transform(64, tuple(mean), tuple(std))
    outputs = []
    for seed in (1, 2):  # scrambled global generators: an evaluation transform must not read them
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        outputs.append(transform(image=photo)["image"])
    for out in outputs:
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="resize_ratio must be >= 1"):
        eval_transform(224, resize_ratio=0.9)
    with pytest.raises(ValueError, match="output size must be positive"):
        train_transform(0)


def test_train_transform_output(photo):
    out = train_transform(64, *BENTHICNET, seed=0)(image=photo)["image"]
    assert out.shape == (3, 64, 64) and out.dtype == torch.float32
    assert train_transform((48, 32), seed=0)(image=photo)["image"].shape == (3, 48, 32)


def run_seeded(transform: A.Compose, image: np.ndarray, seed: int) -> torch.Tensor:
    # Scramble every global generator: a seeded transform must not read them.
    random.seed(seed % 1000 + 1)
    np.random.seed(seed % 1000 + 2)
    torch.manual_seed(seed % 1000 + 3)
    seed_transform(transform, seed)
    return transform(image=image)["image"]


def test_same_item_seed_gives_identical_tensors_and_different_seeds_differ(photo):
    transform = train_transform(64, *BENTHICNET)
    first = run_seeded(transform, photo, item_seed(0, 3, 17))
    run_seeded(transform, photo, item_seed(0, 3, 18))  # something else in between
    again = run_seeded(train_transform(64, *BENTHICNET), photo, item_seed(0, 3, 17))  # fresh instance
    assert torch.equal(first, again)
    others = [run_seeded(transform, photo, item_seed(0, epoch, 17)) for epoch in (4, 5, 6)]
    assert all(not torch.equal(first, other) for other in others)


def test_seed_argument_makes_construction_reproducible(photo):
    a = train_transform(64, seed=5)(image=photo)["image"]
    b = train_transform(64, seed=5)(image=photo)["image"]
    c = train_transform(64, seed=6)(image=photo)["image"]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_seeded_flips_are_independent_of_each_other():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    flips = A.Compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)])
    seen = set()
    for seed in range(64):
        seed_transform(flips, seed)
        out = flips(image=image)["image"]
        seen.add((np.array_equal(out[0], image[0]) or np.array_equal(out[0], image[0, ::-1]),
                  np.array_equal(out[:, 0], image[:, 0]) or np.array_equal(out[:, 0], image[::-1, 0])))
    assert len(seen) == 4  # all four (hflip?, vflip?) combinations occur


def test_item_seed_mixes_its_keys():
    seeds = {item_seed(s, e, i) for s in range(3) for e in range(3) for i in range(3)}
    assert len(seeds) == 27
    assert item_seed(1, 2, 3) == item_seed(1, 2, 3) and 0 <= item_seed(1, 2, 3) < 2**63
    with pytest.raises(ValueError, match="non-negative integers"):
        item_seed(0, -1)
