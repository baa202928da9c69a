"""The synthetic dataset, checked from the files it writes (recounted here, not trusted from the code).

One small reference dataset (40 images at 64 px) is generated per module; tests that need other
settings generate their own, equally small, in their own folders.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from seafloorhmc import Taxonomy
from seafloorhmc.data.synthetic import (
    CLASS_WEIGHTS,
    SYNTHETIC_PATHS,
    expected_image_frequency,
    generate_synthetic_dataset,
    plan_scenes,
)
from seafloorhmc.data.synthetic import generate as generate_module
from seafloorhmc.data.synthetic.annotate import truncate_labels
from seafloorhmc.data.synthetic.hierarchy import synthetic_taxonomy
from seafloorhmc.data.synthetic.organisms import PAINTERS, SIZES
from seafloorhmc.data.synthetic.shapes import Pen
from seafloorhmc.data.synthetic.splits import assign_splits

N, SIZE, SEED = 40, 64, 3
SEP = " > "


# ---------------------------------------------------------------------------- helpers
def make(folder: Path, **kwargs) -> Path:
    args = {"n_images": N, "seed": SEED, "size": SIZE, **kwargs}
    return generate_synthetic_dataset(folder, **args)


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def file_stats(folder: Path) -> dict[str, tuple[int, int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, p.stat().st_ino, p.stat().st_size)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def label_lists(rows: list[dict[str, str]]) -> list[list[str]]:
    return [row["labels"].split(";") for row in rows]


def read_tree(folder: Path) -> dict[str, str | None]:
    """path -> parent path, rebuilt from labels.csv (id,name,parent_id) with the csv module."""
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as handle:
        table = {row["id"]: (row["name"], row["parent_id"] or None) for row in csv.DictReader(handle)}

    def path(label_id: str) -> str:
        name, parent = table[label_id]
        return name if parent is None else path(parent) + SEP + name

    return {path(i): (path(parent) if parent else None) for i, (_, parent) in table.items()}


def support(labels: list[list[str]], node: str) -> int:
    """Images with a label equal to ``node`` or below it (string prefix, independent of the package)."""
    return sum(any(lab == node or lab.startswith(node + SEP) for lab in image) for image in labels)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic") / "ref"
    manifest = make(folder)
    assert manifest == folder / "manifest.csv"
    return folder


# ---------------------------------------------------------------------------- tree and rarity
def test_label_tree_file_reads_back_as_the_synthetic_taxonomy(reference):
    tax = Taxonomy.from_csv(reference / "labels.csv")
    assert tax.fingerprint() == synthetic_taxonomy().fingerprint()
    tree = read_tree(reference)
    assert set(tree) == set(SYNTHETIC_PATHS)
    echinoderm_nodes = [p for p in tree if p.startswith("Biota > Echinoderms")]
    assert 11 <= len(echinoderm_nodes) <= 14
    assert max(p.count(SEP) for p in tree) == 4
    inner = {parent for parent in tree.values() if parent}
    assert set(CLASS_WEIGHTS) == set(tree) - inner == set(PAINTERS) == set(SIZES)


def test_declared_rarity_is_what_the_sampler_draws():
    scenes = plan_scenes(4000, seed=11)
    classes = [s.classes for s in scenes]
    expected = expected_image_frequency()
    for node, p in expected.items():
        observed = support(classes, node) / len(scenes)
        tolerance = 4 * np.sqrt(p * (1 - p) / len(scenes)) + 1e-3
        assert abs(observed - p) <= tolerance, (node, observed, p)
    deepest = [p for p in SYNTHETIC_PATHS if p.count(SEP) == 4]
    assert deepest and all(0.03 <= expected[p] <= 0.07 for p in deepest)
    # Deep is rare: the three rarest leaves sit at depth 3 or 4, and depth-4 nodes are rarer than
    # every node at depth 1 or 2.
    rarest = sorted(CLASS_WEIGHTS, key=expected.get)[:3]
    assert all(p.count(SEP) >= 3 for p in rarest), rarest
    assert max(expected[p] for p in deepest) < min(expected[p] for p in SYNTHETIC_PATHS if 1 <= p.count(SEP) <= 2)
    counts = np.array([len(s.organisms) for s in scenes])
    assert counts.min() >= 1 and counts.max() <= 5
    assert 2.1 <= counts.mean() <= 2.5 and (counts >= 2).mean() > 0.6


def test_child_never_in_more_images_than_parent(reference):
    labels = label_lists(read_rows(reference))
    tree = read_tree(reference)
    for child, parent in tree.items():
        if parent is not None:
            assert support(labels, child) <= support(labels, parent), (child, parent)
    assert support(labels, "Biota") == N


# ---------------------------------------------------------------------------- manifest
def test_manifest_rows_are_valid(reference):
    raw = (reference / "manifest.csv").read_bytes()
    assert raw.startswith(b"image,labels,split\n")
    umask = os.umask(0o022)
    os.umask(umask)
    assert (reference / "manifest.csv").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    raw.decode("utf-8")
    rows = read_rows(reference)
    assert len(rows) == N
    tax = Taxonomy.from_csv(reference / "labels.csv")
    for row in rows:
        labels = row["labels"].split(";")
        assert labels and len(set(labels)) == len(labels)
        for label in labels:
            assert "/".join(label.split(SEP)) in tax.index, label
        assert row["split"] in {"train", "val", "test"}
        with Image.open(reference / row["image"]) as img:
            assert img.format == "PNG" and img.size == (SIZE, SIZE) and img.mode == "RGB"
            assert np.asarray(img).std() > 5  # not a blank frame
    on_disk = {f"images/{p.name}" for p in (reference / "images").iterdir()}
    assert on_disk == {row["image"] for row in rows}
    assert [row["image"] for row in rows] == [f"images/{i:06d}.png" for i in range(N)]


def test_several_organisms_and_labels_per_image(reference):
    labels = label_lists(read_rows(reference))
    assert np.mean([len(lab) for lab in labels]) >= 1.5
    assert sum(len(lab) >= 2 for lab in labels) >= N // 3


def test_partial_labels_are_truncated_true_classes_at_the_requested_share(reference):
    rows = read_rows(reference)
    labels = label_lists(rows)
    inner = {parent for parent in read_tree(reference).values() if parent}
    total = sum(len(lab) for lab in labels)
    partial = sum(label in inner for lab in labels for label in lab)
    assert abs(partial / total - 0.15) <= 0.5 / total + 1e-9
    assert partial > 0
    truth = [s.classes for s in plan_scenes(N, SEED)]
    for lab, true in zip(labels, truth):
        assert len(lab) == len(true)
        for label in lab:  # each label is a true class or an ancestor of one, never the root alone
            assert label != "Biota" and any(t == label or t.startswith(label + SEP) for t in true)
        assert sum(label in true for label in lab) + sum(label in inner for label in lab) == len(lab)


@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_partial_fraction_is_honoured(tmp_path, fraction):
    make(tmp_path / "d", n_images=30, partial_fraction=fraction)
    labels = label_lists(read_rows(tmp_path / "d"))
    inner = {parent for parent in read_tree(tmp_path / "d").values() if parent}
    total = sum(len(lab) for lab in labels)
    partial = sum(label in inner for lab in labels for label in lab)
    assert abs(partial / total - fraction) <= 0.5 / total + 1e-9


def test_truncation_keeps_label_count_and_never_duplicates():
    sets = [["Biota > Echinoderms > Sea urchins > Irregular urchins > Heart urchins",
             "Biota > Echinoderms > Sea urchins > Irregular urchins > Sand dollars"]] * 50
    out, cut = truncate_labels(sets, 1.0, np.random.default_rng(0))
    assert all(len(s) == 2 and len(set(s)) == 2 for s in out)
    assert cut == 100  # three coarser non-root ancestors each, so both always find a free one


# ---------------------------------------------------------------------------- splits
def test_split_sizes_follow_fractions(reference, tmp_path):
    counts = Counter(row["split"] for row in read_rows(reference))
    for name, frac in zip(("train", "val", "test"), (0.7, 0.15, 0.15)):
        assert abs(counts[name] - frac * N) <= 1
    make(tmp_path / "d", n_images=30, split_fractions=(0.5, 0.3, 0.2))
    counts = Counter(row["split"] for row in read_rows(tmp_path / "d"))
    assert (counts["train"], counts["val"], counts["test"]) == (15, 9, 6)


def test_split_spreads_rare_labels_over_all_splits():
    labels, _ = truncate_labels([s.classes for s in plan_scenes(600, 0)], 0.15, np.random.default_rng(1))
    splits = assign_splits(labels, (0.7, 0.15, 0.15), np.random.default_rng(2))
    per_label = Counter((label, split) for lab, split in zip(labels, splits) for label in lab)
    rare = [label for label, n in Counter(node for lab in labels for node in lab).items() if 7 <= n <= 40]
    assert rare
    for label in rare:
        assert all(per_label[(label, s)] >= 1 for s in ("train", "val", "test")), label


def test_invalid_arguments_are_refused_before_writing(tmp_path):
    for bad in ({"n_images": 0}, {"size": 8}, {"partial_fraction": 1.5}, {"split_fractions": (0.5, 0.5, 0.5)},
                {"split_fractions": (0.5, 0.5)}, {"seed": -1}):
        with pytest.raises(ValueError):
            make(tmp_path / "d", **bad)
    assert not (tmp_path / "d").exists()


# ---------------------------------------------------------------------------- determinism
def test_same_arguments_give_identical_files(reference, tmp_path):
    make(tmp_path / "again")
    assert file_hashes(tmp_path / "again") == file_hashes(reference)


def test_other_seed_gives_other_images_and_labels(reference, tmp_path):
    make(tmp_path / "other", seed=SEED + 1)
    ref, other = file_hashes(reference), file_hashes(tmp_path / "other")
    pngs = [k for k in ref if k.endswith(".png")]
    assert sum(ref[k] != other[k] for k in pngs) == len(pngs)
    assert ref["manifest.csv"] != other["manifest.csv"]
    assert ref["labels.csv"] == other["labels.csv"]


def test_images_do_not_depend_on_dataset_length(reference, tmp_path):
    make(tmp_path / "short", n_images=12)
    ref, short = file_hashes(reference), file_hashes(tmp_path / "short")
    assert all(short[f"images/{i:06d}.png"] == ref[f"images/{i:06d}.png"] for i in range(12))


# ---------------------------------------------------------------------------- folder safety
def test_foreign_non_empty_folder_is_refused(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=str(folder)):
        make(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_other_parameters_are_refused_unless_overwrite(tmp_path):
    folder = tmp_path / "d"
    make(folder, n_images=20)
    (folder / "notes.txt").write_text("keep me")
    before = file_hashes(folder)
    with pytest.raises(FileExistsError, match=str(folder)):
        make(folder, n_images=10)
    assert file_hashes(folder) == before
    make(folder, n_images=10, overwrite=True)
    assert len(read_rows(folder)) == 10
    assert len(list((folder / "images").iterdir())) == 10  # stale images 10..19 removed
    assert (folder / "notes.txt").read_text() == "keep me"
    fresh = tmp_path / "fresh"
    make(fresh, n_images=10)
    assert {k: v for k, v in file_hashes(folder).items() if k != "notes.txt"} == file_hashes(fresh)


def test_rerun_on_finished_dataset_touches_nothing(reference, monkeypatch):
    before = file_stats(reference)

    def fail(*args, **kwargs):
        raise AssertionError("rendered an image of a finished dataset")

    monkeypatch.setattr(generate_module, "render_scene", fail)
    monkeypatch.setattr(generate_module, "_write_bytes_atomic", fail)
    assert make(reference) == reference / "manifest.csv"
    assert file_stats(reference) == before


def test_interrupted_run_leaves_no_manifest_and_resumes_to_identical_files(reference, tmp_path, monkeypatch):
    folder = tmp_path / "d"
    real = generate_module.render_scene
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 15:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(generate_module, "render_scene", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make(folder)
    assert not (folder / "manifest.csv").exists()
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    written = file_stats(folder / "images")
    assert len(written) == 14

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    calls["n"] = 0
    monkeypatch.setattr(generate_module, "render_scene", counting)
    make(folder)
    assert calls["n"] == N - 14  # finished images are not painted again
    assert {k: v for k, v in file_stats(folder / "images").items() if k in written} == written
    assert file_hashes(folder) == file_hashes(reference)


def test_readme_counts_match_the_manifest(reference):
    text = (reference / "README.md").read_text(encoding="utf-8")
    assert f"seed {SEED}" in text and "version" in text
    labels = label_lists(read_rows(reference))
    table = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0] in SYNTHETIC_PATHS:
            table[cells[0]] = int(cells[1])
    assert table == {node: support(labels, node) for node in SYNTHETIC_PATHS}


# ---------------------------------------------------------------------------- drawing
@pytest.mark.parametrize("label", sorted(PAINTERS))
def test_painters_draw_inside_their_size(label):
    """Placement assumes an organism of radius r stays within ~r of its centre (shadow aside)."""
    side, r = 300, 50
    for seed in range(3):
        img = Image.new("RGB", (side, side), (128, 128, 128))
        pen = Pen(ImageDraw.Draw(img, "RGBA"), np.random.default_rng(seed), (0.6, 0.8), side)
        PAINTERS[label](pen, side / 2, side / 2, r, 0.7 * seed)
        changed = np.abs(np.asarray(img, dtype=int) - 128).sum(-1) > 0
        yy, xx = np.nonzero(changed)
        dist = np.hypot(xx - side / 2, yy - side / 2)
        assert dist.max() <= 2.0 * r
        assert (dist <= r).sum() >= 0.1 * np.pi * r * r


def test_rendering_does_not_touch_global_rng():
    state = np.random.get_state()
    plan_scenes(5, 0)
    from seafloorhmc.data.synthetic.scene import render_scene
    render_scene(plan_scenes(1, 0)[0], 32, np.random.default_rng(0))
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]
