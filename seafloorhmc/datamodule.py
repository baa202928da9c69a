"""From a configuration to a taxonomy and train/val/test data, whatever the source format.

The data format (:data:`seafloorhmc.data.formats.FORMATS`) says how ``data.*`` keys are read; image
formats become :class:`~seafloorhmc.data.dataset.HierarchicalImageDataset` splits, the HMC feature
sets in-memory :class:`~seafloorhmc.data.dataset.TensorBatches`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from .config import Config, ConfigError
from .data.arff import fit_preprocessor, load_hmc_dataset
from .data.checks import (
    BadImagesError,
    check_images,
    default_check_cache,
    label_lookalikes,
    separator_in_names,
    unknown_labels,
)
from .data.dataset import HierarchicalImageDataset, TensorBatches, collate_skipping_bad
from .data.formats import DataFormat
from .data.image_cache import attach_image_cache, shrink_side
from .data.loaders import EpochLoader, RankBatches
from .data.lpros import clone_samples, clone_targets, lpros_for_config
from .data.patches import patch_size_warning
from .data.readers import FORMATS
from .data.records import AnnotationRecord, group_samples
from .data.splits import split_samples
from .data.subsample import subset_for_config, subset_record
from .data.transforms import eval_transform_for, train_transform_for
from .distributed import DistContext
from .labels import PATH_ID_SEP
from .levels import keep_single_path, single_path_mask
from .taxonomy import Taxonomy, TaxonomyError

__all__ = ["Batches", "DataModule", "Loaders", "prepare_data", "read_records", "describe_samples"]

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)


class Batches(Protocol):
    """What a run iterates each epoch: an :class:`EpochLoader`, tensor batches or one rank's share of them."""

    def set_epoch(self, epoch: int) -> None:
        """Fix the order of the next pass (same epoch, same batches).

        Args:
            epoch: The epoch number.
        """

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[dict]: ...


@dataclass
class Loaders:
    """The loaders of one run's splits (None where a split is empty)."""

    train: Batches
    val: Batches | None
    test: Batches | None


@dataclass
class DataModule:
    """Everything training needs from the data.

    ``train_targets`` are the rows of the training split proper (node weights and rare-node
    metrics are computed from them).
    """

    taxonomy: Taxonomy
    train: object
    val: object | None
    test: object | None
    train_targets: torch.Tensor
    train_known: torch.Tensor | None = None
    feature_dim: int | None = None
    info: dict = field(default_factory=dict)
    collate_fn: object = None
    train_record: dict | None = None  # limited-data subset / LPROS clones, saved as train_subset.json
    bad_images: dict[str, str] = field(default_factory=dict)  # left out (data.skip_bad_images): path → reason

    def loaders(self, config: Config, dist: DistContext, pin_memory: bool = False) -> Loaders:
        """Per-rank loaders: ``train.batch_size`` is the global batch, each of the W ranks takes 1/W.

        Args:
            config: The run configuration (batch size, seed, workers).
            dist: The process group (single process: ``SINGLE_PROCESS``).
            pin_memory: Pin host memory for faster copies to a GPU.

        Returns:
            Train, validation and test loaders (None where a split is empty).
        """
        cfg = config.train
        per_rank = dist.per_rank_batch(cfg.batch_size)
        if isinstance(self.train, TensorBatches):
            if not dist.enabled:
                assert isinstance(self.val, TensorBatches | None) and isinstance(self.test, TensorBatches | None)
                return Loaders(self.train, self.val, self.test)
            shard = lambda b: None if b is None else RankBatches(b, dist.rank, dist.world_size)  # noqa: E731
            return Loaders(RankBatches(self.train, dist.rank, dist.world_size), shard(self.val), shard(self.test))

        def make(dataset, shuffle):
            if dataset is None:
                return None
            return EpochLoader(dataset, per_rank, shuffle=shuffle, seed=config.seed,
                               workers=config.data.workers, collate_fn=self.collate_fn, pin_memory=pin_memory,
                               rank=dist.rank, world_size=dist.world_size, fold_single=shuffle)

        return Loaders(make(self.train, True), make(self.val, False), make(self.test, False))


def prepare_data(config: Config, dist: DistContext | None = None) -> DataModule:
    """The taxonomy and the train/val/test data a configuration describes.

    Args:
        config: The run configuration (its ``data`` section above all).
        dist: The process group; data a format generates (synthetic) is made by rank 0 only.

    Returns:
        The prepared data.
    """
    fmt = FORMATS.get(config.data.format)
    if fmt.features:
        return _prepare_hmc(config)
    return _prepare_images(config, fmt, dist)


# ---------------------------------------------------------------------- image datasets
def read_records(config: Config, fmt: DataFormat,
                 dist: DistContext | None = None) -> tuple[list[AnnotationRecord], str | None]:
    """The annotation records and the label-tree file (if any) of an image data format.

    Args:
        config: The run configuration.
        fmt: Its data format.
        dist: The process group (a format's ``prepare`` step runs on rank 0, the others wait).

    Returns:
        (records, label tree path or None).

    Raises:
        ConfigError: If the format holds no images (feature data).
    """
    d = config.data
    options = fmt.reader_options(d)
    source = getattr(d, fmt.source)
    if fmt.prepare is not None:
        if dist is None or dist.is_main:
            fmt.prepare(source, **options)
        if dist is not None:
            dist.barrier()
    if fmt.read is None:
        raise ConfigError(f"data.format={fmt.name} holds no images")
    records = fmt.read(source, **options)
    label_tree = fmt.label_tree(source, **options) if fmt.label_tree is not None else d.label_tree
    return records, label_tree


def describe_samples(config: Config, fmt: DataFormat, records: Sequence[AnnotationRecord] = ()) -> dict[str, str]:
    """What one sample is and where the data comes from, in words (for metrics.json and report.html).

    Args:
        config: The run configuration.
        fmt: Its data format.
        records: The records read (names the image folder when the format's source key is unset,
            as for generated synthetic data).

    Returns:
        ``{"sample": ..., "source": ...}``.
    """
    d = config.data
    source = getattr(d, fmt.source) or (str(Path(records[0].image).parent) if records else "(not set)")
    if d.group_by == "annotation" and fmt.geometry:
        sample = (f"{d.patch_size}-px patch around each annotated point or shape, resized to {d.image_size} px "
                  "(whole image where an annotation has no place)")
    else:
        sample = f"whole image, resized to {d.image_size} px"
    return {"sample": sample, "source": f"{fmt.name}: {source}"}


def _check_labels(config: Config, records: Sequence[AnnotationRecord], taxonomy: Taxonomy,
                  label_tree: str | None) -> None:
    """Unknown labels are an error listing all of them; look-alike spellings are warnings."""
    sep = config.data.separator
    first_seen: dict[tuple[str, ...], str] = {}
    for record in records:
        first_seen.setdefault(record.path, record.where or record.image)
    if label_tree:
        def resolves(label: str) -> bool:
            try:
                taxonomy.resolve(label)
            except TaxonomyError:
                return False
            return True

        labels = [(PATH_ID_SEP.join(path), where) for path, where in first_seen.items()]
        missing = unknown_labels(labels, taxonomy.nodes, sep, is_known=resolves)
        if missing:
            raise TaxonomyError(f"{len(missing)} label{'s are' if len(missing) > 1 else ' is'} not in the label tree "
                                f"{label_tree}: " + "; ".join(missing[:10])
                                + (f"; and {len(missing) - 10} more" if len(missing) > 10 else ""))
        return
    for lookalike in label_lookalikes(first_seen.items(), sep):
        log.warning("%s", lookalike.message())
    glued = separator_in_names(first_seen.items(), sep)
    if glued is not None:
        log.warning("label %r (%s) contains %r without the spaces of data.separator=%r, so it is read as one name; "
                    "set data.separator to the separator the file uses", glued[0], glued[1], sep.strip(), sep)


def _check_images(config: Config, splits: dict[str, list], dist: DistContext | None) -> dict[str, str]:
    """Decode every image of every split once; raise listing the bad ones, or return them to leave out.

    Under DDP rank 0 checks first and the other ranks then read its verdicts from the cache.
    """
    d = config.data
    paths = [s.image for samples in splits.values() for s in samples]
    is_main = dist is None or dist.is_main
    if dist is not None and not is_main:
        dist.barrier()
    found = check_images(paths, d.max_image_pixels, d.allow_truncated, progress=config.train.progress and is_main,
                         cache=default_check_cache())
    if is_main and dist is not None:
        dist.barrier()
    if found.truncated and is_main:
        log.warning("%d truncated image%s accepted (data.allow_truncated=true; the missing part is grey), e.g. %s",
                    len(found.truncated), "s" if len(found.truncated) > 1 else "", found.truncated[0])
    if found.bad and not d.skip_bad_images:
        raise BadImagesError(found.bad)
    return found.bad


def _leave_out(splits: dict[str, list], bad: dict[str, str]) -> dict[str, int]:
    """Drop the samples of unreadable images from every split, in place; samples dropped per split."""
    dropped = {}
    for name, samples in splits.items():
        kept = [s for s in samples if s.image not in bad]
        dropped[name] = len(samples) - len(kept)
        splits[name] = kept
    return dropped


def _prepare_images(config: Config, fmt: DataFormat, dist: DistContext | None) -> DataModule:
    d = config.data
    records, label_tree = read_records(config, fmt, dist)
    if not records:
        raise ConfigError(f"data.format={d.format}: no annotations found")
    taxonomy = Taxonomy.from_csv(label_tree) if label_tree else Taxonomy.from_paths([r.path for r in records])
    _check_labels(config, records, taxonomy, label_tree)
    samples = group_samples(records, by=fmt.grouping(d.group_by))
    patch_images = [s.image for s in samples if s.geometry is not None and s.geometry.kind in ("point", "circle")]
    if patch_images and (warning := patch_size_warning(patch_images, d.patch_size)):
        log.warning(warning)
    dropped = 0
    if d.single_path:  # level-wise heads (HCAL) need one label path per sample
        samples, dropped = keep_single_path(samples, taxonomy)
    splits = split_samples(samples, d.val_fraction, d.test_fraction, config.seed)
    splits["train"], clones, record, subset_info = _limit_and_resample(config, splits["train"], taxonomy)
    # every image the run will use is checked before the first epoch; bad ones leave every split together,
    # after the split is drawn, so the other images keep their splits whether or not bad ones are skipped
    splits["clones"] = clones
    bad = _check_images(config, splits, dist)
    left_out = _leave_out(splits, bad) if bad else {}
    clones = splits.pop("clones")
    if bad and (dist is None or dist.is_main):
        counts = ", ".join(f"{k} {v}" for k, v in left_out.items() if v and k != "clones")
        log.warning("left out %d unreadable image%s (data.skip_bad_images=true; samples dropped: %s): %s",
                    len(bad), "s" if len(bad) > 1 else "", counts,
                    "; ".join(f"{p}: {r}" for p, r in list(bad.items())[:5]) + (" ..." if len(bad) > 5 else ""))
    if not splits["train"]:
        raise ConfigError("the training split is empty" + (f" once the {len(bad)} unreadable images are left out"
                                                           if bad else ""))
    # node weights and rare nodes: the training split proper, before any LPROS clone and without the
    # validation rows train_on_val adds (spec §3.1; the same rule as the HMC path below)
    n_weighted = len(splits["train"])
    if d.train_on_val:
        splits["train"] += splits["val"]
        splits["val"] = []
    splits["train"] += clones
    train_tf = train_transform_for(config) if d.augment else eval_transform_for(config)
    common: dict[str, Any] = dict(taxonomy=taxonomy, patch_size=d.patch_size, max_pixels=d.max_image_pixels,
                  allow_truncated=d.allow_truncated, skip_bad=d.skip_bad_images, seed=config.seed,
                  shrink_to=shrink_side(d.image_size, d.min_crop_scale, d.augment))
    train = HierarchicalImageDataset(splits["train"], transform=train_tf, **common)
    val, test = (HierarchicalImageDataset(splits[name], transform=eval_transform_for(config), **common)
                 if splits[name] else None for name in ("val", "test"))
    info = {"format": d.format, "train": len(splits["train"]), "val": len(splits["val"]), "test": len(splits["test"]),
            "nodes": len(taxonomy), "records": len(records), **describe_samples(config, fmt, records),
            "skipped_images": len(bad)}
    if d.single_path:
        info["dropped_multi_path"] = dropped
    info.update(subset_info)
    cache = attach_image_cache([train, val, test], config, dist)  # every photo decoded once, here
    if cache is not None:
        info["image_cache"] = cache
    return DataModule(taxonomy, train, val, test, train.targets[:n_weighted], train.known[:n_weighted], info=info,
                      collate_fn=collate_skipping_bad, train_record=record, bad_images=bad)


def _limit_and_resample(config: Config, samples: list, taxonomy: Taxonomy) -> tuple[list, list, dict | None, dict]:
    """Limited data (nested subset) then LPROS on the training split proper.

    Returns (samples kept, LPROS clone samples, the train_subset.json record, info entries).
    """
    d = config.data
    if d.train_fraction is None and d.train_count is None and d.resample == "none":
        return samples, [], None, {}
    subset = None
    ids = [s.image if s.geometry is None else f"{s.image} {s.geometry.kind} {list(s.geometry.coords)}"
           for s in samples]
    if d.train_fraction is not None or d.train_count is not None:
        targets = HierarchicalImageDataset(samples, taxonomy).targets  # names the sample of a bad label
        subset = subset_for_config(d, targets, config.seed)
        assert subset is not None  # a size key is set
        samples = [samples[i] for i in subset.indices]
    plan = lpros_for_config(d, [s.labels for s in samples], taxonomy, config.seed)
    clones = clone_samples(samples, plan, taxonomy) if plan is not None else []
    record = subset_record(subset, ids, plan, taxonomy)
    info = {**({"subset": subset.summary()} if subset is not None else {}),
            **({"lpros": plan.info} if plan is not None else {})}
    return samples, clones, record, info


# ---------------------------------------------------------------------- HMC feature benchmarks
def _prepare_hmc(config: Config) -> DataModule:
    """HMC benchmark features (C-HMCNN layout): preprocess each split, batch in memory.

    The preprocessor is fitted on train ∪ valid (FUN/GO, as C-HMCNN) or on train ("others").
    Each split is transformed on its own, so ``impute=per_split`` fills gaps with that split's
    means exactly as C-HMCNN does. Node weights come from the train split proper.
    """
    d = config.data
    assert d.root is not None and d.dataset is not None  # required for data.format=hmc (config validation)
    data = load_hmc_dataset(d.root, d.dataset)
    taxonomy = data.taxonomy
    train_x, train_y = data.train.X, data.targets("train")
    train_rows = np.arange(len(train_x))  # row numbers in the train ARFF (for train_subset.json)
    fit_on: np.ndarray | list[np.ndarray]
    val_x: np.ndarray | None
    val_y: np.ndarray | None
    if data.valid is not None:
        val_x, val_y = data.valid.X, data.targets("valid")
        fit_on = [train_x, val_x]
    else:
        fit_on = train_x
        val_x = val_y = None
        if not d.train_on_val and d.val_fraction > 0:
            order = np.random.default_rng(config.seed).permutation(len(train_x))
            k = int(round(len(order) * d.val_fraction))
            val_x, val_y = train_x[order[:k]], train_y[order[:k]]
            train_x, train_y, train_rows = train_x[order[k:]], train_y[order[k:]], train_rows[order[k:]]
    # limited data, then LPROS, on the train split proper; preprocessing then sees only the rows used
    row_labels = [data.train.labels[r] for r in train_rows]
    subset, plan, record, subset_info = _limit_and_resample_rows(config, train_y, row_labels, taxonomy, train_rows)
    if subset is not None:
        train_x, train_y = train_x[subset.indices], train_y[subset.indices]
    weights_from = torch.as_tensor(np.asarray(train_y), dtype=torch.float32)  # before any clone (spec §3.1)
    if plan is not None:
        train_x = np.concatenate([train_x, train_x[plan.rows]])
        train_y = np.concatenate([np.asarray(train_y), clone_targets(plan, taxonomy)])
    if plan is not None or (subset is not None and len(subset.indices) < subset.pool):
        fit_on = [train_x] + ([val_x] if val_x is not None else [])
    prep = fit_preprocessor(fit_on, impute=d.impute)
    features = {"train": prep.transform(train_x), "test": prep.transform(data.test.X)}
    labels = {"train": np.asarray(train_y), "test": np.asarray(data.targets("test"))}
    if val_x is not None:
        features["val"], labels["val"] = prep.transform(val_x), np.asarray(val_y)
    dropped = {}
    if d.single_path:  # level-wise heads (HCAL) need one label path per example
        for split in list(features):
            keep = single_path_mask(labels[split], taxonomy)
            dropped[split] = int((~keep).sum())
            features[split], labels[split] = features[split][keep], labels[split][keep]
        weights_from = torch.as_tensor(labels["train"], dtype=torch.float32)
    if val_x is not None and d.train_on_val:
        features["train"] = np.concatenate([features["train"], features.pop("val")])
        labels["train"] = np.concatenate([labels["train"], labels.pop("val")])

    def batches(split, shuffle):
        if split not in features:
            return None
        targets = torch.as_tensor(labels[split], dtype=torch.float32)
        return TensorBatches(torch.as_tensor(features[split]), targets, torch.ones_like(targets, dtype=torch.bool),
                             config.train.batch_size, shuffle=shuffle, seed=config.seed)

    info: dict[str, Any] = {"format": "hmc", "dataset": d.dataset, "nodes": len(taxonomy),
                            "eval_nodes": int(taxonomy.eval_mask.sum()),
            "features": int(features["train"].shape[1]), **{k: int(v.shape[0]) for k, v in features.items()}}
    if d.single_path:
        info["dropped_multi_path"] = dropped
    info.update(subset_info)
    return DataModule(taxonomy, batches("train", True), batches("val", False), batches("test", False), weights_from,
                      None, feature_dim=int(features["train"].shape[1]), info=info, train_record=record)


def _limit_and_resample_rows(config: Config, targets, label_lists: list, taxonomy: Taxonomy, source_rows):
    """Limited data (nested subset) then LPROS plan for feature rows: (subset, plan, record, info)."""
    d = config.data
    subset = subset_for_config(d, targets, config.seed)
    if subset is not None:
        label_lists = [label_lists[i] for i in subset.indices]
    plan = lpros_for_config(d, label_lists, taxonomy, config.seed)
    record = subset_record(subset, [int(r) for r in source_rows], plan, taxonomy)
    info = {**({"subset": subset.summary()} if subset is not None else {}),
            **({"lpros": plan.info} if plan is not None else {})}
    return subset, plan, record, info
