"""Predict's inputs on survey photos: each photo decoded once, rows in input order, GPU decoding faked on the CPU."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from seafloorhmc.benchmarks.predict import build_random_checkpoint
from seafloorhmc.data.image_cache import shrink_side
from seafloorhmc.data.images import decode_image
from seafloorhmc.data.patches import crop_for_geometry
from seafloorhmc.data.synthetic.survey import write_survey_dataset
from seafloorhmc.data.transforms import IMAGENET_MEAN, IMAGENET_STD, eval_transform
from seafloorhmc.models.persistence import load_trained_model
from seafloorhmc.prediction import inputs as inputs_module
from seafloorhmc.prediction import predictor as predictor_module
from seafloorhmc.prediction.inputs import (
    InputOrder,
    PredictionDataset,
    PredictionItem,
    collate_predictions,
    collect_items,
    gpu_batches,
    rebatch,
)
from seafloorhmc.prediction.predictor import PredictOptions, write_predictions
from seafloorhmc.taxonomy import Taxonomy

PHOTOS, SIZE, PATCH = 3, 32, 224  # the checkpoint's data.patch_size


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Three 400 x 300 JPEGs with 6-9 points each, and an untrained checkpoint for their labels."""
    folder = tmp_path_factory.mktemp("predict_survey")
    annotations = write_survey_dataset(folder, n_images=PHOTOS, width=400, height=300, points=(6, 9), seed=5)
    with open(folder / "label_map.csv", newline="") as handle:
        taxonomy = Taxonomy.from_paths([row["path"] for row in csv.DictReader(handle)], sep=" > ")
    checkpoint = build_random_checkpoint(folder / "model.safetensors", taxonomy, "test_resnet", SIZE, members=2,
                                         hidden=16, batch_size=4)
    return folder, annotations, checkpoint


@pytest.fixture
def interleaved(survey):
    """The export's rows dealt round-robin over the photos: no photo's points come one after another."""
    folder, annotations, _ = survey
    with open(annotations, newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_photo = [[r for r in rows if r["Name"] == name] for name in dict.fromkeys(r["Name"] for r in rows)]
    dealt = [photo[i] for i in range(max(map(len, by_photo))) for photo in by_photo if i < len(photo)]
    path = folder / "interleaved.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(dealt)
    return path, dealt


@pytest.fixture
def count_decodes(monkeypatch):
    calls: list[tuple[str, object]] = []

    def counting(path, *args, **kwargs):
        calls.append((str(path), kwargs.get("shrink_to")))
        return decode_image(path, *args, **kwargs)

    monkeypatch.setattr(inputs_module, "decode_image", counting)
    return calls


def _rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_photo_batches_keep_photos_whole():
    items = [PredictionItem(path, path) for path in "aabacccccdde"]  # a: 0,1,3  b: 2  c: 4-8  d: 9,10  e: 11
    dataset = PredictionDataset(items, transform=None, patch_size=8)
    assert dataset.photo_batches(4) == [[0, 1, 3, 2], [4, 5, 6, 7, 8], [9, 10, 11]]
    assert dataset.photo_batches(1) == [[0, 1, 3], [2], [4, 5, 6, 7, 8], [9, 10], [11]]
    assert dataset.photo_batches(100) == [[0, 1, 3, 2, 4, 5, 6, 7, 8, 9, 10, 11]]
    with pytest.raises(ValueError, match="at least 1"):
        dataset.photo_batches(0)


def test_rebatch_makes_full_batches_and_passes_errors_on():
    def batch(indices, errors=()):
        index = torch.tensor(indices, dtype=torch.long)
        return {"image": index[:, None].float() if indices else None, "index": index, "errors": list(errors)}

    pieces = list(rebatch([batch([4, 5, 6, 0, 1, 2, 3], [(9, "x")]), batch([], [(8, "y")]), batch([7, 10]),
                           batch([11], [(12, "z")])], 3))
    assert [p["index"].tolist() for p in pieces] == [[4, 5, 6], [0, 1, 2], [3, 7, 10], [11]]
    assert [p["errors"] for p in pieces] == [[(9, "x")], [], [(8, "y")], [(12, "z")]]
    assert all(p["image"][:, 0].tolist() == p["index"].tolist() for p in pieces), "images stay with their index"
    only_errors = list(rebatch([batch([], [(0, "bad")])], 3))
    assert only_errors[0]["image"] is None and only_errors[0]["errors"] == [(0, "bad")]


def test_rebatch_can_start_before_a_batch_is_full():
    def batch(indices):
        index = torch.tensor(indices, dtype=torch.long)
        return {"image": index[:, None].float(), "index": index, "errors": []}

    pieces = list(rebatch([batch([0, 1]), batch([2, 3, 4, 5, 6]), batch([7, 8])], 3, start_now=True))
    assert [p["index"].tolist() for p in pieces] == [[0, 1], [2, 3, 4], [5, 6, 7], [8]]
    pieces = list(rebatch([batch([0, 1, 2, 3, 4])], 3, start_now=True))
    assert [p["index"].tolist() for p in pieces] == [[0, 1, 2], [3, 4]], "never more than a batch"


def test_input_order_releases_rows_in_order():
    order = InputOrder()
    assert order.add({2: "c", 1: "b"}) == [] and order.add({0: "a"}) == ["a", "b", "c"]
    assert order.add({4: "e"}) == [] and order.add({3: "d"}) == ["d", "e"] and order.waiting == {}


def test_points_predict_decodes_each_photo_once_in_input_order(survey, interleaved, tmp_path, count_decodes):
    folder, _, checkpoint = survey
    path, dealt = interleaved
    out = tmp_path / "points.csv"
    write_predictions(checkpoint, path, out, PredictOptions(format="coralnet", batch_size=4, workers=0,
                                                            progress=False))
    assert sorted(count_decodes) == sorted((str(folder / f"survey_{i:06d}.jpg"), None) for i in range(PHOTOS)), \
        "each photo decoded once, at full size, although its points are spread over the input"
    rows = _rows(out)
    assert [(r["image"], r["x"], r["y"]) for r in rows] == [(d["Name"], d["Column"], d["Row"]) for d in dealt]
    model, info = load_trained_model(checkpoint)
    transform = eval_transform(SIZE, IMAGENET_MEAN, IMAGENET_STD)
    photos = {name: decode_image(folder / name).pixels for name in {d["Name"] for d in dealt}}
    places = [item.geometry for item in collect_items(path, "coralnet")]
    patches = [crop_for_geometry(photos[d["Name"]], place, PATCH) for d, place in zip(dealt, places)]
    probs = model.predict(torch.stack([transform(image=p)["image"] for p in patches])).probs
    for row, p in zip(rows, probs):
        stored = json.loads(row["probabilities"])
        expected = [v if v >= 0.01 else 0.0 for v in p.tolist()]
        shown = [" > ".join(info.taxonomy.node_path(i)) for i in range(len(info.taxonomy))]  # as the CSV names nodes
        assert [stored.get(n, 0.0) for n in shown] == pytest.approx(expected, abs=5.1e-5)


def test_worker_processes_write_the_same_files_as_one_process(survey, interleaved, tmp_path):
    """Decoding workers, small decoding batches, an early first batch and the row-writing process
    (predict with workers) change nothing in the files: same bytes as everything in one process."""
    folder, _, checkpoint = survey
    path, dealt = interleaved
    with open(path, "a", newline="") as handle:  # a point outside its photo: an error row, last in the queue
        csv.writer(handle).writerow([dealt[0]["Name"], 5000, 5] + [""] * (len(dealt[0]) - 3))
    files = {}
    for workers in (0, 2):
        out, review = tmp_path / f"w{workers}.csv", tmp_path / f"w{workers}-review.csv"
        summary = write_predictions(checkpoint, path, out, PredictOptions(format="coralnet", batch_size=4,
                                                                          workers=workers, progress=False),
                                    review=review)
        assert summary.rows == len(dealt) + 1 and summary.errors == 1
        files[workers] = (out.read_bytes(), review.read_bytes())
    assert files[2] == files[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w0-review.csv", "w0.csv", "w2-review.csv", "w2.csv"]


def test_whole_photos_are_decoded_shrunk_like_training_decodes_them(survey, tmp_path, count_decodes):
    folder, _, checkpoint = survey
    write_predictions(checkpoint, folder, tmp_path / "whole.csv", PredictOptions(workers=0, progress=False))
    side = shrink_side(SIZE, 0.5, augment=True)  # the checkpoint's config: 46 px, as its training worked
    assert side == 46
    assert sorted(count_decodes) == [(str(folder / f"survey_{i:06d}.jpg"), side) for i in range(PHOTOS)]


def test_gpu_batches_match_the_cpu_path_within_a_level(survey):
    folder, annotations, _ = survey
    items = collect_items(annotations, "coralnet") + [PredictionItem(str(folder / "survey_000000.jpg"), "whole")]
    dataset = PredictionDataset(items, eval_transform(SIZE, IMAGENET_MEAN, IMAGENET_STD), PATCH)
    cpu = collate_predictions([dataset[i] for i in range(len(dataset))])["image"]
    pieces = list(rebatch(gpu_batches(dataset, 5, 0, "cpu", SIZE, IMAGENET_MEAN, IMAGENET_STD), 5))
    order = torch.cat([p["index"] for p in pieces]).argsort()
    faked = torch.cat([p["image"] for p in pieces])[order]
    levels = (faked - cpu).abs() * torch.tensor(IMAGENET_STD)[:, None, None] * 255
    assert levels.max() <= 1.001 and levels.mean() <= 0.2, (levels.max(), levels.mean())


def test_predict_runs_the_gpu_decoding_path_with_the_device_faked(survey, tmp_path, monkeypatch):
    """No GPU here: the GPU path runs with ``device="cpu"`` (torchvision's CPU JPEG decoder) and must
    give the rows the CPU path gives, up to a level of interpolation in the pixels."""
    folder, annotations, checkpoint = survey
    used = []

    def fake(gpu_decode, device):
        used.append(gpu_decode)
        return torch.device("cpu") if gpu_decode else None

    monkeypatch.setattr(predictor_module, "decode_device", fake)
    options = dict(format="coralnet", batch_size=4, workers=0, progress=False)
    write_predictions(checkpoint, annotations, tmp_path / "gpu.csv", PredictOptions(gpu_decode=True, **options))
    write_predictions(checkpoint, annotations, tmp_path / "cpu.csv", PredictOptions(**options))
    assert used == [True, False]
    gpu, cpu = _rows(tmp_path / "gpu.csv"), _rows(tmp_path / "cpu.csv")
    assert [r["image"] for r in gpu] == [r["image"] for r in cpu]
    for a, b in zip(gpu, cpu):
        pa, pb = json.loads(a["probabilities"]), json.loads(b["probabilities"])
        assert np.allclose([pa.get(k, 0) for k in pb], list(pb.values()), atol=0.02)
