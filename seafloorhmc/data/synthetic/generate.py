"""Write the synthetic dataset to disk: images, label tree, manifest, README; safely and resumably.

Layout of ``out_dir``::

    dataset.json   parameters + generator version (written first: claims the folder)
    images/        000000.png, 000001.png, ...
    labels.csv     the label tree, BIIGLE ``id,name,parent_id`` (read with ``Taxonomy.from_csv``)
    README.md      seed, counts per node, partial share, split sizes
    manifest.csv   ``image,labels,split`` (written last: its presence means "finished")

Every file is written to a temporary name and moved into place, so an interrupted run leaves no
half-written file and no manifest. Running again with the same parameters finishes an interrupted
run (skipping images already written) or, if the manifest exists, returns at once. A non-empty
folder holding anything else is refused unless ``overwrite=True``.

Randomness: image ``i`` uses ``SeedSequence(seed, spawn_key=(0, i))`` (one child for the plan, one
for the pixels), so images do not depend on ``n_images``; partial labelling and the split use their
own streams ``(1,)`` and ``(2,)``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .annotate import truncate_labels
from .scene import Scene, plan_scene, render_scene
from .splits import SPLITS, assign_splits, check_fractions
from .taxonomy import PATH_SEP, SYNTHETIC_PATHS, ancestors_of

__all__ = ["GENERATOR_VERSION", "generate_synthetic_dataset", "plan_scenes"]

GENERATOR_VERSION = "1.1"
GENERATOR = "seafloorhmc.data.synthetic"
MANIFEST, LABEL_TREE, README, STATE = "manifest.csv", "labels.csv", "README.md", "dataset.json"
IMAGE_DIR = "images"
LABEL_DELIMITER = ";"
_IMAGE_NAME = re.compile(r"^\d{6,}\.png$")
_TEMP_NAME = re.compile(r"^\..*\.tmp$")


def generate_synthetic_dataset(
    out_dir: str | os.PathLike,
    n_images: int = 600,
    seed: int = 0,
    size: int = 128,
    partial_fraction: float = 0.15,
    split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Generate (or finish, or find) the synthetic echinoderm dataset.

    Same arguments → byte-identical files.

    Args:
        out_dir: The dataset folder.
        n_images: Number of images.
        seed: Seed of everything (images do not depend on ``n_images``).
        size: Image side in pixels (≥ 16).
        partial_fraction: Share of labels stopped at a coarser node.
        split_fractions: (train, val, test) shares.
        overwrite: Delete the files this generator writes (manifest, label tree, README, state,
            ``images/NNNNNN.png``) and leave others alone; otherwise a folder holding anything
            else is refused.
        progress: Show a progress bar while rendering.

    Returns:
        The manifest's path.
    """
    params = _check_params(n_images, seed, size, partial_fraction, split_fractions)
    out = Path(out_dir)
    manifest = out / MANIFEST
    state = _folder_state(out, params, overwrite)
    if state == "complete":
        return manifest
    if state == "replace":
        _remove_outputs(out)
    images = out / IMAGE_DIR
    images.mkdir(parents=True, exist_ok=True)
    _remove_temp_files(out)
    _write_text_atomic(out / STATE, json.dumps(
        {"generator": GENERATOR, "version": GENERATOR_VERSION, "params": params}, indent=2) + "\n")

    scenes = plan_scenes(n_images, seed)
    _render_missing(scenes, images, seed, size, progress)
    labels, cut = truncate_labels([s.classes for s in scenes], partial_fraction,
                                  np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,))))
    splits = assign_splits(labels, split_fractions, np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,))))
    _write_text_atomic(out / LABEL_TREE, _label_tree_csv())
    _write_text_atomic(out / README, _readme(params, scenes, labels, splits, cut))
    rows = [(f"{IMAGE_DIR}/{_image_name(i)}", LABEL_DELIMITER.join(lab), split)
            for i, (lab, split) in enumerate(zip(labels, splits))]
    _write_text_atomic(manifest, _csv_text(("image", "labels", "split"), rows))
    return manifest


def plan_scenes(n_images: int, seed: int) -> list[Scene]:
    """The organisms of every image (no pixels): cheap, and all the labels depend on.

    Args:
        n_images: Number of images.
        seed: The dataset seed.

    Returns:
        One scene per image.
    """
    return [plan_scene(np.random.default_rng(_image_seeds(seed, i)[0])) for i in range(n_images)]


# ---------------------------------------------------------------------------- parameters & folder
def _check_params(n_images, seed, size, partial_fraction, split_fractions) -> dict:
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 1:
        raise ValueError(f"n_images must be a positive integer, got {n_images!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an integer of at least 16 pixels, got {size!r}")
    if not 0.0 <= float(partial_fraction) <= 1.0:
        raise ValueError(f"partial_fraction must lie in [0, 1], got {partial_fraction!r}")
    return {"n_images": int(n_images), "seed": int(seed), "size": int(size),
            "partial_fraction": float(partial_fraction), "split_fractions": list(check_fractions(split_fractions))}


def _folder_state(out: Path, params: dict, overwrite: bool) -> str:
    """"new", "resume" (our interrupted run), "complete", or "replace"; refuses foreign folders."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"cannot write the synthetic dataset to {out}: it is a file")
    if not out.exists() or not any(out.iterdir()):
        return "new"
    if overwrite:
        return "replace"
    try:
        recorded = json.loads((out / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if isinstance(recorded, dict) and recorded.get("generator") == GENERATOR:
        if recorded.get("version") == GENERATOR_VERSION and recorded.get("params") == params:
            return "complete" if (out / MANIFEST).is_file() else "resume"
        raise FileExistsError(
            f"folder {out} holds a synthetic dataset made with other settings "
            f"(version {recorded.get('version')}, {recorded.get('params')}; asked for version "
            f"{GENERATOR_VERSION}, {params}); pass overwrite=True to replace it or choose another folder")
    raise FileExistsError(f"folder {out} is not empty and is not a synthetic dataset; refusing to write "
                          "into it (pass overwrite=True to write anyway, or choose another folder)")


def _remove_outputs(out: Path) -> None:
    """Delete what this generator writes, the manifest first so the folder stops looking finished."""
    for name in (MANIFEST, STATE, README, LABEL_TREE):
        (out / name).unlink(missing_ok=True)
    images = out / IMAGE_DIR
    if images.is_dir():
        for item in images.iterdir():
            if _IMAGE_NAME.match(item.name) and item.is_file():
                item.unlink()
    _remove_temp_files(out)


def _remove_temp_files(out: Path) -> None:
    """Leftovers of an interrupted atomic write (ours are named ``.<name>.<random>.tmp``)."""
    for folder in (out, out / IMAGE_DIR):
        if folder.is_dir():
            for item in folder.iterdir():
                if _TEMP_NAME.match(item.name) and item.is_file():
                    item.unlink()


# ---------------------------------------------------------------------------- images
def _image_seeds(seed: int, index: int) -> list[np.random.SeedSequence]:
    return np.random.SeedSequence(seed, spawn_key=(0, index)).spawn(2)


def _image_name(index: int) -> str:
    return f"{index:06d}.png"


def _render_missing(scenes: Sequence[Scene], images: Path, seed: int, size: int, progress: bool) -> None:
    """Paint and write every image not already on disk (a finished PNG is never half-written)."""
    todo = [i for i in range(len(scenes)) if not (images / _image_name(i)).is_file()]
    if progress:
        from tqdm import tqdm
        todo = tqdm(todo, desc="synthetic images", unit="img")
    for i in todo:
        img = render_scene(scenes[i], size, np.random.default_rng(_image_seeds(seed, i)[1]))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        _write_bytes_atomic(images / _image_name(i), buf.getvalue())


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write beside the target, then rename; created with mode 0666 & ~umask, unlike mkstemp's 0600."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_text_atomic(path: Path, text: str) -> None:
    """UTF-8 text to ``path`` via a temporary file in the same folder and ``os.replace``."""
    _write_bytes_atomic(Path(path), text.encode("utf-8"))


# ---------------------------------------------------------------------------- text outputs
def _csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _label_tree_csv() -> str:
    """BIIGLE-style ``id,name,parent_id``; ids follow ``SYNTHETIC_PATHS`` (parents first)."""
    ids = {path: k for k, path in enumerate(SYNTHETIC_PATHS, start=1)}
    rows = []
    for path, k in ids.items():
        parents = ancestors_of(path)
        rows.append((k, path.split(PATH_SEP)[-1], ids[parents[-1]] if parents else ""))
    return _csv_text(("id", "name", "parent_id"), rows)


def _node_support(label_sets: Sequence[Sequence[str]]) -> Counter:
    """Images whose labels contain each node or one of its descendants."""
    support: Counter = Counter()
    for labels in label_sets:
        support.update({node for label in labels for node in [*ancestors_of(label), label]})
    return support


def _readme(params: dict, scenes: Sequence[Scene], labels: Sequence[Sequence[str]], splits: Sequence[str],
            cut: int) -> str:
    support, direct = _node_support(labels), Counter(label for lab in labels for label in lab)
    true_support = _node_support([s.classes for s in scenes])
    n_labels = sum(len(lab) for lab in labels)
    n_org = sum(len(s.organisms) for s in scenes)
    split_counts = Counter(splits)
    lines = [
        "# Synthetic seafloor echinoderm dataset",
        "",
        f"Made by `{GENERATOR}` version {GENERATOR_VERSION} with seed {params['seed']}: "
        f"{params['n_images']} images of {params['size']}×{params['size']} px, "
        f"{n_org} organisms ({n_org / len(scenes):.2f} per image), {n_labels} image labels.",
        f"Partial labels (cut to a coarser node): {cut} of {n_labels} "
        f"({cut / max(n_labels, 1):.1%}; requested {params['partial_fraction']:.1%}).",
        "Splits: " + ", ".join(f"{s} {split_counts.get(s, 0)}" for s in SPLITS) + ".",
        "Files: `manifest.csv` (image,labels,split; paths joined with ' > ', labels with ';'), "
        "`labels.csv` (label tree, BIIGLE id,name,parent_id), `images/`.",
        "",
        "| node | images (labelled, node or below) | images (true) | labels at node |",
        "|---|---:|---:|---:|",
    ]
    for path in SYNTHETIC_PATHS:
        lines.append(f"| {path} | {support.get(path, 0)} | {true_support.get(path, 0)} | {direct.get(path, 0)} |")
    return "\n".join(lines) + "\n"
