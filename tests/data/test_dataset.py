"""Datasets: targets, patches, bad files, per-(epoch, index) seeding, and in-memory feature batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from seafloorhmc.data.dataset import HierarchicalImageDataset, TensorBatches, collate_skipping_bad
from seafloorhmc.data.images import BadImageError
from seafloorhmc.data.patches import crop_patch
from seafloorhmc.data.records import Geometry, Sample
from seafloorhmc.data.transforms import train_transform
from seafloorhmc.taxonomy import Taxonomy, TaxonomyError

URCHIN = "Biota/Echinoderms/Sea urchins/Regular urchins"


@pytest.fixture
def taxonomy(echinoderm_paths) -> Taxonomy:
    return Taxonomy.from_paths(echinoderm_paths)


@pytest.fixture
def pictures(tmp_path) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (40 + 4 * i, 50, 3), dtype=np.uint8) for i in range(6)]
    for i, array in enumerate(arrays):
        Image.fromarray(array).save(tmp_path / f"img{i}.png")
    return arrays


@pytest.fixture
def samples(pictures) -> list[Sample]:
    labels = [(URCHIN,), ("Biota/Sponges",), ("Biota/Echinoderms",), ("Biota/Sponges", URCHIN),
              ("Biota/Echinoderms/Sea stars",), ("Biota",)]
    return [Sample(image=f"img{i}.png", labels=lab, complete=(False,) * len(lab), where=f"list.csv row {i + 2}")
            for i, lab in enumerate(labels)]


def test_targets_are_encoded_once_per_sample(taxonomy, samples, tmp_path):
    dataset = HierarchicalImageDataset(samples, taxonomy, image_root=tmp_path)
    assert dataset.targets.shape == (6, len(taxonomy)) and dataset.known.dtype == torch.bool
    for i, sample in enumerate(samples):
        target, known = taxonomy.encode(sample.labels, sample.complete)
        assert torch.equal(dataset.targets[i], target) and torch.equal(dataset.known[i], known)
    # an inner-node label leaves its subtree unknown
    assert not dataset.known[2, taxonomy.index[URCHIN]]


def test_unknown_label_names_the_row_and_the_label(taxonomy, tmp_path):
    bad = [Sample("img0.png", ("Biota/Corals",), (False,), where="annotations.csv row 7")]
    with pytest.raises(TaxonomyError, match=r"annotations.csv row 7: unknown label 'Biota/Corals'"):
        HierarchicalImageDataset(bad, taxonomy)


def test_item_without_transform_is_the_scaled_image(taxonomy, samples, pictures, tmp_path):
    dataset = HierarchicalImageDataset(samples, taxonomy, image_root=tmp_path)
    item = dataset[3]
    assert set(item) == {"image", "target", "known", "index"} and item["index"] == 3
    expected = torch.from_numpy(pictures[3]).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(item["image"], expected)
    assert torch.equal(item["target"], dataset.targets[3])


def test_absolute_paths_ignore_the_root(taxonomy, pictures, tmp_path):
    sample = Sample(str(tmp_path / "img1.png"), ("Biota",), (False,))
    dataset = HierarchicalImageDataset([sample], taxonomy, image_root="/elsewhere")
    assert dataset[0]["image"].shape == (3, 44, 50)


def test_point_samples_become_pyspacer_patches(taxonomy, pictures, tmp_path):
    points = [Sample("img2.png", (URCHIN,), (True,), geometry=Geometry("point", (3, 40))),
              Sample("img2.png", ("Biota/Sponges",), (True,), geometry=Geometry("point", (0.5, 0.5), normalised=True))]
    dataset = HierarchicalImageDataset(points, taxonomy, patch_size=16, image_root=tmp_path)
    first, second = dataset[0]["image"], dataset[1]["image"]
    for image, centre in [(first, (3, 40)), (second, (25, 24))]:
        patch = crop_patch(pictures[2], centre, 16)
        torch.testing.assert_close(image, torch.from_numpy(patch).permute(2, 0, 1).float() / 255)


def test_point_outside_the_image_names_the_sample(taxonomy, pictures, tmp_path):
    sample = Sample("img0.png", ("Biota",), (False,), geometry=Geometry("point", (500, 5)), where="pts.csv row 3")
    dataset = HierarchicalImageDataset([sample], taxonomy, image_root=tmp_path)
    with pytest.raises(ValueError, match=r"pts.csv row 3: image .*img0.png: point \(x=500, y=5\) lies outside"):
        dataset[0]


@pytest.fixture
def with_bad(samples, tmp_path) -> list[Sample]:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    bad = Sample("broken.jpg", ("Biota",), (False,), where="list.csv row 99")
    return [samples[0], bad, samples[1], bad]


def test_bad_image_raises_naming_the_path(taxonomy, with_bad, tmp_path):
    dataset = HierarchicalImageDataset(with_bad, taxonomy, image_root=tmp_path)
    with pytest.raises(BadImageError, match=r"cannot read image .*broken\.jpg"):
        dataset[1]


def test_bad_images_are_skipped_by_the_collate(taxonomy, with_bad, tmp_path):
    transform = train_transform(24, seed=0)
    dataset = HierarchicalImageDataset(with_bad, taxonomy, transform=transform, skip_bad=True, image_root=tmp_path)
    item = dataset[1]
    assert item["bad"] == str(tmp_path / "broken.jpg") and item["index"] == 1 and item["reason"]
    batch = collate_skipping_bad([dataset[i] for i in range(4)])
    assert batch["image"].shape == (2, 3, 24, 24)
    assert batch["index"].tolist() == [0, 2]
    assert torch.equal(batch["target"], dataset.targets[[0, 2]])
    assert [path for path, _ in batch["skipped"]] == [str(tmp_path / "broken.jpg")] * 2
    good = collate_skipping_bad([dataset[0], dataset[2]])
    assert good["skipped"] == [] and good["image"].shape == (2, 3, 24, 24)


def test_all_bad_batch_has_zero_rows(taxonomy, with_bad, tmp_path):
    dataset = HierarchicalImageDataset(with_bad, taxonomy, transform=train_transform(24), skip_bad=True,
                                       image_root=tmp_path)
    batch = collate_skipping_bad([dataset[1], dataset[3]])
    assert batch["image"].shape == (0, 3, 24, 24)
    assert batch["target"].shape == (0, len(taxonomy)) and batch["known"].dtype == torch.bool
    assert batch["index"].shape == (0,) and len(batch["skipped"]) == 2
    with pytest.raises(ValueError, match="empty batch"):
        collate_skipping_bad([])


def test_truncated_files_are_flagged_when_allowed(taxonomy, samples, pictures, tmp_path):
    data = (tmp_path / "img0.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    cut = Sample("cut.png", ("Biota",), (False,))
    strict = HierarchicalImageDataset([cut], taxonomy, image_root=tmp_path)
    with pytest.raises(BadImageError, match="truncated"):
        strict[0]
    lenient = HierarchicalImageDataset([cut, samples[1]], taxonomy, image_root=tmp_path, allow_truncated=True)
    assert lenient[0]["truncated"] is True and lenient[1]["truncated"] is False


def test_augmentation_depends_on_seed_epoch_and_index_only(taxonomy, samples, tmp_path):
    dataset = HierarchicalImageDataset(samples, taxonomy, transform=train_transform(24), seed=3, image_root=tmp_path)
    dataset.set_epoch(2)
    forward = [dataset[i]["image"] for i in range(6)]
    backward = [dataset[i]["image"] for i in reversed(range(6))][::-1]
    assert all(torch.equal(a, b) for a, b in zip(forward, backward))
    dataset.set_epoch(3)
    assert not torch.equal(dataset[0]["image"], forward[0])
    resumed = HierarchicalImageDataset(samples, taxonomy, transform=train_transform(24), seed=3, image_root=tmp_path)
    resumed.set_epoch(2)
    assert torch.equal(resumed[4]["image"], forward[4])
    other_seed = HierarchicalImageDataset(samples, taxonomy, transform=train_transform(24), seed=4, image_root=tmp_path)
    other_seed.set_epoch(2)
    assert not torch.equal(other_seed[4]["image"], forward[4])


def loader_batches(dataset, workers: int) -> list[dict]:
    loader = DataLoader(dataset, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0),
                        num_workers=workers, collate_fn=collate_skipping_bad)
    return list(loader)


def test_batches_do_not_depend_on_worker_count(taxonomy, with_bad, samples, tmp_path):
    dataset = HierarchicalImageDataset(samples + with_bad, taxonomy, transform=train_transform(24), seed=1,
                                       skip_bad=True, image_root=tmp_path)
    dataset.set_epoch(5)
    serial, parallel = loader_batches(dataset, 0), loader_batches(dataset, 2)
    assert len(serial) == len(parallel) == 3
    for a, b in zip(serial, parallel):
        assert torch.equal(a["index"], b["index"]) and torch.equal(a["image"], b["image"])
        assert torch.equal(a["target"], b["target"]) and a["skipped"] == b["skipped"]
    dataset.set_epoch(6)
    assert not all(torch.equal(a["image"], b["image"]) for a, b in zip(serial, loader_batches(dataset, 0)))


def test_tensor_batches_cover_every_row_once_per_epoch():
    features, targets = torch.randn(10, 4), torch.randint(0, 2, (10, 3)).float()
    batches = TensorBatches(features, targets, batch_size=4, seed=7)
    assert len(batches) == 3
    epoch0 = list(batches)
    rows = torch.cat([b["index"] for b in epoch0])
    assert sorted(rows.tolist()) == list(range(10)) and rows.tolist() != list(range(10))
    for batch in epoch0:
        assert torch.equal(batch["image"], features[batch["index"]])
        assert torch.equal(batch["target"], targets[batch["index"]])
        assert batch["known"].all() and batch["skipped"] == []
    assert [b["image"].shape[0] for b in epoch0] == [4, 4, 2]


def test_tensor_batches_order_is_a_function_of_seed_and_epoch():
    features, targets = torch.randn(50, 2), torch.zeros(50, 3)
    a = TensorBatches(features, targets, batch_size=8, seed=1)
    b = TensorBatches(features, targets, batch_size=8, seed=1)
    a.set_epoch(4)
    list(b)  # iterating earlier epochs must not matter
    b.set_epoch(4)
    assert torch.equal(a.order(), b.order())
    b.set_epoch(5)
    assert not torch.equal(a.order(), b.order())
    assert not torch.equal(a.order(), TensorBatches(features, targets, seed=2, batch_size=8).order())
    fixed = TensorBatches(features, targets, batch_size=8, shuffle=False)
    assert torch.equal(torch.cat([x["index"] for x in fixed]), torch.arange(50))


def test_tensor_batches_drop_last():
    batches = TensorBatches(torch.randn(10, 4), torch.zeros(10, 3), batch_size=4, drop_last=True)
    assert len(batches) == 2 and [x["image"].shape[0] for x in batches] == [4, 4]


def test_tensor_batches_check_shapes():
    with pytest.raises(ValueError, match=r"features have \(9, 4\) rows but targets \(10, 3\)"):
        TensorBatches(torch.randn(9, 4), torch.zeros(10, 3))
    with pytest.raises(ValueError, match=r"known \(10, 2\)"):
        TensorBatches(torch.randn(10, 4), torch.zeros(10, 3), torch.ones(10, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        TensorBatches(torch.randn(10, 4), torch.zeros(10, 3), batch_size=0)
