"""The image cache: each photo decoded once, the same pixels as decoding, resumable, invalidated by what matters."""

from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from seafloorhmc.config import load_config
from seafloorhmc.data import image_cache as image_cache_module
from seafloorhmc.data.dataset import HierarchicalImageDataset
from seafloorhmc.data.image_cache import (
    CacheSettings,
    ImageCacheStore,
    image_cache_applies,
    prepare_image_cache,
    shrink_side,
)
from seafloorhmc.data.images import decode_image
from seafloorhmc.data.patches import crop_for_geometry, cut_window, window_for_geometry
from seafloorhmc.data.records import Geometry, Sample
from seafloorhmc.data.synthetic.survey import write_survey_dataset
from seafloorhmc.data.transforms import train_transform
from seafloorhmc.datamodule import prepare_data
from seafloorhmc.taxonomy import Taxonomy

PHOTOS = 3


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Three 480 x 360 JPEG photos with 8-12 CoralNet points each."""
    folder = tmp_path_factory.mktemp("survey")
    write_survey_dataset(folder, n_images=PHOTOS, width=480, height=360, points=(8, 12), seed=3)
    return folder


@pytest.fixture
def photos(survey, tmp_path):
    """A private copy (tests edit photos)."""
    folder = tmp_path / "photos"
    shutil.copytree(survey, folder)
    return folder


def point_config(folder, cache, *extra):
    return load_config(None, [
        "data.format=coralnet", f"data.annotations={folder / 'annotations.csv'}",
        f"data.label_map={folder / 'label_map.csv'}", "data.group_by=annotation", "data.patch_size=64",
        "data.image_size=32", f"data.image_cache={cache}", "model.encoder=test_resnet", "model.members=2",
        "model.hidden=16", "train.epochs=2", "train.batch_size=8", "train.progress=false", "train.report=false",
        "train.device=cpu", *extra])


@pytest.fixture
def count_decodes(monkeypatch):
    """Count decode_image calls made by the cache build and by datasets, per path."""
    calls: dict[str, int] = {}

    def counting(path, *args, **kwargs):
        calls[str(path)] = calls.get(str(path), 0) + 1
        return decode_image(path, *args, **kwargs)

    monkeypatch.setattr(image_cache_module, "decode_image", counting)
    monkeypatch.setattr("seafloorhmc.data.dataset.decode_image", counting)
    monkeypatch.setattr(image_cache_module, "build_workers", lambda configured: 0)  # count in this process
    return calls


def items(dataset, order=None):
    return [dataset[i]["image"] for i in (order if order is not None else range(len(dataset)))]


def test_build_decodes_each_photo_once_and_items_equal_the_decoding_path(photos, tmp_path, count_decodes):
    config = point_config(photos, tmp_path / "cache")
    data = prepare_data(config)
    points = data.info["records"]
    assert points >= PHOTOS * 8
    assert sorted(count_decodes.values()) == [1] * PHOTOS, "the build decodes every photo exactly once"
    assert data.info["image_cache"] | {"folder": None} == {"folder": None, "photos_decoded": PHOTOS,
                                                           "stored": points, "reused": 0, "unreadable_photos": 0}
    datasets = [d for d in (data.train, data.val, data.test) if d is not None]
    assert sum(len(d) for d in datasets) == points
    count_decodes.clear()
    rng = np.random.default_rng(0)
    for dataset in datasets:
        dataset.set_epoch(1)
        order = rng.permutation(len(dataset))  # shuffled, as training visits them
        cached = items(dataset, order)
        assert count_decodes == {}, "no photo is decoded once the cache is built"
        dataset.use_cache(None)
        decoded = items(dataset, order)
        assert all(torch.equal(a, b) for a, b in zip(cached, decoded)), "bit for bit the same tensors"
    assert sum(count_decodes.values()) > PHOTOS, "without the cache a shuffled pass decodes photos again and again"


def test_later_runs_reuse_and_an_edited_photo_is_cut_again(photos, tmp_path, count_decodes):
    config = point_config(photos, tmp_path / "cache")
    first = prepare_data(config).info["image_cache"]
    count_decodes.clear()
    again = prepare_data(config).info["image_cache"]
    assert (again["photos_decoded"], again["stored"], again["reused"]) == (0, 0, first["stored"])
    assert count_decodes == {}
    photo = photos / "survey_000001.jpg"
    with Image.open(photo) as im:
        im.rotate(180).save(photo, quality=90)  # same size and name, new content and mtime
    edited = prepare_data(config).info["image_cache"]
    assert edited["photos_decoded"] == 1 and count_decodes == {str(photo): 1}
    assert edited["stored"] + edited["reused"] == first["stored"]


@pytest.mark.parametrize("change, folder", [("data.patch_size=48", "same"), ("data.patch_margin=0.5", "new"),
                                            ("data.allow_truncated=true", "new"), ("data.image_size=64", "reused")])
def test_what_decides_the_pixels_cuts_again_and_nothing_else_does(photos, tmp_path, change, folder):
    base = prepare_data(point_config(photos, tmp_path / "cache")).info["image_cache"]
    changed = prepare_data(point_config(photos, tmp_path / "cache", change)).info["image_cache"]
    if folder == "reused":  # the network's input size does not change a patch: every entry is shared
        assert changed["folder"] == base["folder"] and changed["photos_decoded"] == 0
        return
    assert (changed["folder"] != base["folder"]) == (folder == "new") and changed["photos_decoded"] == PHOTOS
    assert changed["stored"] == base["stored"], "every patch cut again"
    assert prepare_data(point_config(photos, tmp_path / "cache")).info["image_cache"]["reused"] == base["stored"]


def test_the_stored_window_holds_the_margin_around_the_patch(photos, tmp_path):
    samples = [(str(photos / "survey_000000.jpg"), Geometry("point", (3, 350))),  # near a corner: reflected
               (str(photos / "survey_000000.jpg"), Geometry("box", (100, 100, 140, 120)))]
    settings = CacheSettings(patch_size=64, margin=0.25)
    cache, ids, _ = prepare_image_cache(samples, settings, tmp_path / "cache")
    full = decode_image(samples[0][0]).pixels
    for (_, geometry), entry, margin in zip(samples, ids, (16, 10)):  # a quarter of the 64 px patch, the 40 px box
        pixels, inner, _ = cache.window(entry)
        window = window_for_geometry(geometry, 64, 480, 360)
        assert settings.margin_for(window) == margin and inner == window.inside(window.grow(margin))
        assert pixels.shape == (window.height + 2 * margin, window.width + 2 * margin, 3)
        np.testing.assert_array_equal(pixels, cut_window(full, window.grow(margin)))
        np.testing.assert_array_equal(cache.sample(entry)[0], crop_for_geometry(full, geometry, 64))


def test_an_interrupted_build_resumes_after_its_last_shard(photos, tmp_path, monkeypatch, count_decodes):
    samples = survey_samples(photos)
    settings = CacheSettings(patch_size=64)
    monkeypatch.setattr(image_cache_module, "SHARD_BYTES", 1)  # a shard per photo
    real_append, written = ImageCacheStore.append, []

    def crash_after_one(self, ids, cuts):
        if written:
            raise KeyboardInterrupt
        written.append(real_append(self, ids, cuts))
        return written[-1]

    monkeypatch.setattr(ImageCacheStore, "append", crash_after_one)
    with pytest.raises(KeyboardInterrupt):
        prepare_image_cache(samples, settings, tmp_path / "cache")
    monkeypatch.setattr(ImageCacheStore, "append", real_append)
    count_decodes.clear()
    cache, ids, summary = prepare_image_cache(samples, settings, tmp_path / "cache")
    assert summary["photos_decoded"] == PHOTOS - 1 and len(count_decodes) == PHOTOS - 1
    assert all(entry in cache for entry in ids)


def test_a_damaged_shard_is_dropped_and_cut_again(photos, tmp_path):
    samples = survey_samples(photos)
    settings = CacheSettings(patch_size=64)
    cache, ids, _ = prepare_image_cache(samples, settings, tmp_path / "cache")
    shard = next(cache.folder.glob("shard-*.safetensors"))
    with open(shard, "r+b") as handle:
        handle.truncate(shard.stat().st_size - 100)
    again, ids_again, summary = prepare_image_cache(samples, settings, tmp_path / "cache")
    assert summary["photos_decoded"] == PHOTOS and ids_again == ids
    full = decode_image(samples[0][0]).pixels
    np.testing.assert_array_equal(again.sample(ids[0])[0], crop_for_geometry(full, samples[0][1], 64))


def test_parallel_build_stores_the_same_pixels(photos, tmp_path):
    samples = survey_samples(photos)
    serial, ids, _ = prepare_image_cache(samples, CacheSettings(64), tmp_path / "serial")
    parallel, ids2, summary = prepare_image_cache(samples, CacheSettings(64), tmp_path / "parallel", workers=2)
    assert ids == ids2 and summary["photos_decoded"] == PHOTOS
    for entry in ids:
        np.testing.assert_array_equal(serial.sample(entry)[0], parallel.sample(entry)[0])


def test_unreadable_photos_are_not_stored_and_datasets_meet_them_as_before(photos, tmp_path, echinoderm_paths):
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    taxonomy = Taxonomy.from_paths(echinoderm_paths)
    samples = [Sample("survey_000000.jpg", ("Biota/Sponges",), (False,), Geometry("point", (10, 10))),
               Sample("broken.jpg", ("Biota/Sponges",), (False,), Geometry("point", (10, 10)))]
    dataset = HierarchicalImageDataset(samples, taxonomy, patch_size=64, skip_bad=True, image_root=photos)
    cache, ids, summary = prepare_image_cache(dataset.cache_samples(), CacheSettings(64), tmp_path / "cache")
    assert summary["unreadable_photos"] == 1 and ids[0] in cache and ids[1] not in cache
    dataset.use_cache(cache, ids)
    assert "image" in dataset[0] and dataset[1]["bad"] == str(photos / "broken.jpg")


def test_whole_images_are_stored_shrunk_exactly_as_the_dataset_decodes_them(photos, tmp_path, echinoderm_paths):
    taxonomy = Taxonomy.from_paths(echinoderm_paths)
    samples = [Sample(f"survey_00000{i}.jpg", ("Biota/Sponges",), (False,)) for i in range(PHOTOS)]
    side = shrink_side(32, 0.5, augment=True)  # 46: 360 px photos are shrunk (draft mode)
    dataset = HierarchicalImageDataset(samples, taxonomy, transform=train_transform(32, seed=0), image_root=photos,
                                       shrink_to=side)
    assert image_cache_applies("auto", dataset.cache_samples(), side)
    cache, ids, _ = prepare_image_cache(dataset.cache_samples(), CacheSettings(64, shrink_to=side), tmp_path / "c")
    stored = cache.sample(ids[0])[0]
    assert min(stored.shape[:2]) == side
    np.testing.assert_array_equal(stored, decode_image(photos / samples[0].image, shrink_to=side).pixels)
    decoded = items(dataset)
    dataset.use_cache(cache, ids)
    assert all(torch.equal(a, b) for a, b in zip(items(dataset), decoded))


def test_builds_use_data_workers_or_every_core(monkeypatch):
    assert image_cache_module.build_workers(3) == 3
    monkeypatch.setattr(image_cache_module.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert image_cache_module.build_workers(0) == 4
    monkeypatch.setattr(image_cache_module.os, "sched_getaffinity", lambda pid: {0})
    assert image_cache_module.build_workers(0) == 0


def test_auto_caches_patches_and_large_photos_only(photos, tiny_images):
    point = [(str(photos / "survey_000000.jpg"), Geometry("point", (1, 1)))]
    small_whole = [(str(tiny_images.parent / "images" / "000.png"), None)]
    assert image_cache_applies("auto", point, None)
    assert not image_cache_applies("auto", small_whole, shrink_side(32))
    assert not image_cache_applies("off", point, None)
    assert image_cache_applies("/some/folder", small_whole, None)


def test_the_same_seed_gives_the_same_metrics_with_and_without_the_cache(photos, tmp_path):
    from seafloorhmc.training import train

    splits = ("data.val_fraction=0.34", "data.test_fraction=0.34")  # one photo each
    cached = train(point_config(photos, tmp_path / "cache", *splits), tmp_path / "cached")
    plain = train(point_config(photos, "off", *splits), tmp_path / "plain")
    assert "image_cache" in cached["data"] and "image_cache" not in plain["data"]
    assert cached["split"] == "test" and cached["au_prc"] is not None
    differ = {key for key in cached if key not in ("data", "config") and cached[key] != plain.get(key)}
    assert differ == set(), "bit for bit: every test metric, the selected epoch"
    logs = []
    for run in ("cached", "plain"):
        with open(tmp_path / run / "log.csv", newline="") as handle:
            logs.append([{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)])
    assert logs[0] == logs[1] and logs[0][0]["val_loss"], "every epoch's losses and validation metrics (seconds aside)"


def test_prepare_command_builds_then_reuses(photos, tmp_path, capsys):
    from seafloorhmc.cli import main

    config = tmp_path / "survey.yaml"
    config.write_text(f"data:\n  format: coralnet\n  annotations: {photos / 'annotations.csv'}\n"
                      f"  label_map: {photos / 'label_map.csv'}\n  group_by: annotation\n  patch_size: 64\n"
                      f"  image_cache: {tmp_path / 'cache'}\n")
    assert main(["prepare", str(config)]) == 0
    assert f"{PHOTOS} photos decoded" in capsys.readouterr().out
    assert main(["prepare", str(config)]) == 0
    assert "0 photos decoded, 0 windows stored" in capsys.readouterr().out
    assert main(["prepare", str(config), "--set", "data.image_cache=off"]) == 0
    assert "nothing to cache" in capsys.readouterr().out


def survey_samples(folder) -> list:
    """(path, point) for every point of the survey export, as a dataset would list them."""
    with open(folder / "annotations.csv", newline="") as handle:
        return [(str(folder / row["Name"]), Geometry("point", (float(row["Column"]), float(row["Row"]))))
                for row in csv.DictReader(handle)]


def test_cache_reads_are_read_only_maps(photos, tmp_path):
    samples = survey_samples(photos)
    cache, ids, _ = prepare_image_cache(samples, CacheSettings(64), tmp_path / "cache")
    window, _, _ = cache.window(ids[0])
    assert isinstance(window.base, np.memmap) or not window.flags.writeable
    copy, _ = cache.sample(ids[0])
    copy[:] = 0  # a sample is the caller's own copy
    assert cache.window(ids[0])[0].any()
    assert os.path.getsize(cache.files[0]) > 0
