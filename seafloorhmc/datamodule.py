"""From a configuration to a taxonomy and train/val/test data, whatever the source format.

The data format (:data:`seafloorhmc.data.formats.FORMATS`) says how ``data.*`` keys are read; image
formats become :class:`~seafloorhmc.data.dataset.HierarchicalImageDataset` splits, the HMC feature
sets in-memory :class:`~seafloorhmc.data.dataset.TensorBatches`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .config import Config, ConfigError
from .distributed import DistContext
from .levels import keep_single_path, single_path_mask
from .taxonomy import Taxonomy
from .data.arff import fit_preprocessor, load_hmc_dataset
from .data.dataset import HierarchicalImageDataset, TensorBatches, collate_skipping_bad
from .data.formats import DataFormat
from .data.loaders import EpochLoader, RankBatches
from .data.lpros import clone_samples, clone_targets, lpros_for_config
from .data.readers import FORMATS
from .data.records import AnnotationRecord, group_samples
from .data.splits import split_samples
from .data.subsample import subset_for_config, subset_record
from .data.transforms import eval_transform_for, train_transform_for

__all__ = ["DataModule", "Loaders", "prepare_data", "read_records"]


@dataclass
class Loaders:
    train: object
    val: object | None
    test: object | None


@dataclass
class DataModule:
    """Everything training needs from the data. ``train_targets`` are the rows of the training
    split proper (node weights and rare-node metrics are computed from them).
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
                return Loaders(self.train, self.val, self.test)
            shard = lambda b: None if b is None else RankBatches(b, dist.rank, dist.world_size)  # noqa: E731
            return Loaders(shard(self.train), shard(self.val), shard(self.test))

        def make(dataset, shuffle):
            if dataset is None:
                return None
            return EpochLoader(dataset, per_rank, shuffle=shuffle, seed=config.seed,
                               workers=config.data.workers, collate_fn=self.collate_fn, pin_memory=pin_memory,
                               rank=dist.rank, world_size=dist.world_size)

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


def _prepare_images(config: Config, fmt: DataFormat, dist: DistContext | None) -> DataModule:
    d = config.data
    records, label_tree = read_records(config, fmt, dist)
    if not records:
        raise ConfigError(f"data.format={d.format}: no annotations found")
    taxonomy = Taxonomy.from_csv(label_tree) if label_tree else Taxonomy.from_paths([r.path for r in records])
    samples = group_samples(records, by=d.group_by)
    dropped = 0
    if d.single_path:  # level-wise heads (HCAL) need one label path per sample
        samples, dropped = keep_single_path(samples, taxonomy)
    splits = split_samples(samples, d.val_fraction, d.test_fraction, config.seed)
    splits["train"], clones, record, subset_info = _limit_and_resample(config, splits["train"], taxonomy)
    if not splits["train"]:
        raise ConfigError("the training split is empty")
    # node weights and rare nodes: the training split proper, before any LPROS clone and without the
    # validation rows train_on_val adds (spec §3.1; the same rule as the HMC path below)
    n_weighted = len(splits["train"])
    if d.train_on_val:
        splits["train"] += splits["val"]
        splits["val"] = []
    splits["train"] += clones
    train_tf = train_transform_for(config) if d.augment else eval_transform_for(config)
    common = dict(taxonomy=taxonomy, patch_size=d.patch_size, max_pixels=d.max_image_pixels,
                  allow_truncated=d.allow_truncated, skip_bad=d.skip_bad_images, seed=config.seed)
    train = HierarchicalImageDataset(splits["train"], transform=train_tf, **common)
    val = HierarchicalImageDataset(splits["val"], transform=eval_transform_for(config), **common) if splits["val"] else None
    test = HierarchicalImageDataset(splits["test"], transform=eval_transform_for(config), **common) if splits["test"] else None
    info = {"format": d.format, "train": len(splits["train"]), "val": len(splits["val"]), "test": len(splits["test"]),
            "nodes": len(taxonomy), "records": len(records)}
    if d.single_path:
        info["dropped_multi_path"] = dropped
    info.update(subset_info)
    return DataModule(taxonomy, train, val, test, train.targets[:n_weighted], train.known[:n_weighted], info=info,
                      collate_fn=collate_skipping_bad, train_record=record)


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
    data = load_hmc_dataset(d.root, d.dataset)
    taxonomy = data.taxonomy
    train_x, train_y = data.train.X, data.targets("train")
    train_rows = np.arange(len(train_x))  # row numbers in the train ARFF (for train_subset.json)
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

    info = {"format": "hmc", "dataset": d.dataset, "nodes": len(taxonomy), "eval_nodes": int(taxonomy.eval_mask.sum()),
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
