"""Feature cache for frozen encoders: every image is encoded once and reused by every run.

With ``model.freeze=true`` and ``data.augment=false`` an image's features depend only on the
encoder, the eval transform and the image. :func:`cached_feature_bundle` encodes every sample of
every split once, stores the features on disk and hands the trainer in-memory feature batches, so
only the head trains (``HierarchicalClassifier.head_logits``) while the model, and therefore its
checkpoint, keeps the real encoder. The cache is keyed by content, not by run, so the cells of a
sweep over one dataset find each other's features.

**Key** (one folder per key under ``data.feature_cache``): a hash of the encoder's name and its
actual weights (the state dict, so a weights file, ``noise_alpha`` with its seed, or a random
init from another seed each give another key), the eval transform's full parameters
(``albumentations.to_dict``: resize, crop, size, normalisation), patch size, truncated-image
handling, device type, bf16 autocast, channels-last and library versions.

**Sample identity** inside a folder (``data.feature_cache_identity``), plus the patch geometry:

* ``stat`` (default): resolved path, size and mtime. One ``stat`` per image; an edited image gets
  a new mtime and is re-encoded, but copying or ``touch``-ing a dataset re-encodes all of it, and
  an edit that restores size and mtime goes unnoticed.
* ``content``: SHA-256 of the file. Survives moves and copies and sees every edit, but reads every
  image in full on every run (minutes of I/O on a large survey before training starts).

**Interruption**: ``shard-NNNNNN.safetensors`` files (``features`` [n, D] float32, sample ``ids``)
and ``manifest.json`` listing complete shards with rows, width and SHA-256. A shard is written
atomically, then the manifest, so a killed encode leaves at most an unlisted shard (overwritten
later) and the next run resumes after the last listed one. Shards are checked against checksum and
shape whenever they are read; a failing one is dropped and its samples are encoded again. A lock
file serialises processes sharing a folder (parallel sweep cells, DDP ranks): the first encodes,
the others wait, then reuse. Features of edited or deleted images stay in their shards until the
folder is deleted (always safe: it is only a cache).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from ..data.dataset import TensorBatches, collate_skipping_bad
from ..data.loaders import ShardedEpochSampler
from ..runtime import Runtime
from ..utils.atomic import write_bytes
from ..utils.manifest_folder import ManifestFolder
from ..utils.seeding import rng_state, set_rng_state

log = logging.getLogger(__name__)

__all__ = ["CACHE_VERSION", "CachedFeatureBatches", "EncodedSamples", "FeatureStore", "cache_key",
           "cached_feature_bundle", "default_cache_root", "describe_pipeline", "encode_samples",
           "encoder_fingerprint", "feature_cache_applies", "sample_ids"]

CACHE_VERSION = 1
SHARD_ROWS = 1024
ID_BYTES = 16


# ---------------------------------------------------------------------- where, and whether
def default_cache_root() -> Path:
    """``$SEAFLOORHMC_DATA/features``, else ``~/.cache/seafloorhmc/features``.

    Returns:
        The folder.
    """
    base = Path(os.environ.get("SEAFLOORHMC_DATA", Path.home() / ".cache" / "seafloorhmc")).expanduser()
    return base / "features"


def cache_root(config) -> Path:
    setting = config.data.feature_cache
    return default_cache_root() if setting == "auto" else Path(setting).expanduser()


def feature_cache_applies(config, bundle) -> bool:
    """True for image data with a frozen encoder and no augmentation, unless ``data.feature_cache=off``.

    With augmentation an image's features change every epoch; an explicit cache folder is then
    refused by the config check, the ``auto`` default falls back to recomputing (and says so).

    Args:
        config: The run's config (``data.feature_cache``, ``data.augment``, ``model.freeze``).
        bundle: The run's data; feature-vector data (``feature_dim`` set) has nothing to cache.

    Returns:
        Whether training runs on cached encoder features.
    """
    if config.data.feature_cache == "off" or bundle.feature_dim is not None or not config.model.freeze:
        return False
    if config.data.augment:
        log.info("feature cache not used: data.augment=true changes an image's features every epoch, so the frozen "
                 "encoder runs on every batch; set data.augment=false to encode each image once")
        return False
    return True


# ---------------------------------------------------------------------- keys and identities
def encoder_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 over the encoder's state dict (names, dtypes, shapes, bytes), so other weights get other features.

    Args:
        module: The encoder.

    Returns:
        64 hex digits.
    """
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(memoryview(flat.view(torch.uint8).numpy()))
    return digest.hexdigest()


def _transform_description(transform):
    if transform is None:
        return None
    import albumentations as A

    try:
        return A.to_dict(transform)
    except Exception:  # noqa: BLE001 - a custom transform albumentations cannot serialise
        return repr(transform)


def describe_pipeline(encoder_name: str, weights_sha256: str, dataset, device: torch.device, amp: bool,
                      channels_last: bool) -> dict:
    """Everything besides the image that decides its features (hashed into the cache key).

    Args:
        encoder_name: The timm encoder name.
        weights_sha256: :func:`encoder_fingerprint` of its weights.
        dataset: The image dataset (its ``transform``, ``patch_size``, ``allow_truncated``).
        device: Where the encoder runs.
        amp: Whether bf16 autocast is on.
        channels_last: Whether channels-last memory is on.

    Returns:
        A JSON-serialisable description, including the library versions.
    """
    import albumentations as A
    import timm

    return {
        "cache_version": CACHE_VERSION,
        "encoder": encoder_name,
        "encoder_weights_sha256": weights_sha256,
        "transform": _transform_description(dataset.transform),
        "patch_size": int(dataset.patch_size),
        "allow_truncated": bool(dataset.allow_truncated),
        "device": device.type,
        "bf16_autocast": bool(amp),
        "channels_last": bool(channels_last),
        "versions": {"torch": torch.__version__, "timm": timm.__version__, "albumentations": A.__version__},
    }


def cache_key(description: dict) -> str:
    """The folder name of a pipeline's features: a hash of its description.

    Args:
        description: :func:`describe_pipeline`'s result.

    Returns:
        32 hex digits.
    """
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _file_identity(path: str, mode: str) -> list:
    try:
        if mode == "content":
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            return ["sha256", digest.hexdigest()]
        stat = os.stat(path)
        return ["stat", os.path.realpath(path), stat.st_size, stat.st_mtime_ns]
    except OSError:
        return ["unreadable", os.path.abspath(path)]  # never stored: encoding it fails or is skipped


def sample_ids(dataset, mode: str = "stat") -> list[str]:
    """One hex id per sample: image identity (``stat`` or ``content``, module doc) + patch geometry.

    Args:
        dataset: The image dataset (``samples`` and ``image_path``).
        mode: ``stat`` (path, size, mtime) or ``content`` (SHA-256 of the file).

    Returns:
        32 hex digits per sample.

    Raises:
        ValueError: ``mode`` is neither.
    """
    if mode not in ("stat", "content"):
        raise ValueError(f"feature cache identity must be 'stat' or 'content', got {mode!r}")
    files: dict[str, list] = {}
    ids = []
    for index, sample in enumerate(dataset.samples):
        path = dataset.image_path(index)
        if path not in files:
            files[path] = _file_identity(path, mode)
        geometry = sample.geometry
        where = None if geometry is None else [geometry.kind, list(geometry.coords), geometry.normalised]
        text = json.dumps([files[path], where])
        ids.append(hashlib.blake2b(text.encode(), digest_size=ID_BYTES).hexdigest())
    return ids


# ---------------------------------------------------------------------- the store
class FeatureStore(ManifestFolder):
    """One key's folder: checked shards listed in an atomically rewritten manifest (module doc).

    Args:
        folder: The key's folder (created when first locked).
        description: :func:`describe_pipeline`'s result, stored in a new manifest.
    """

    version = CACHE_VERSION
    kind = "feature cache"
    unreadable = "encoding this folder's samples again"

    def _load_shard(self, entry: dict) -> dict[str, torch.Tensor] | None:
        """The shard's tensors, or None (and a message naming it) when missing, altered or mis-shaped."""
        path = self.folder / str(entry.get("file"))
        problem, tensors = None, None
        try:
            blob = path.read_bytes()
        except OSError:
            problem = "missing"
        else:
            if hashlib.sha256(blob).hexdigest() != entry.get("sha256"):
                problem = "corrupt (checksum mismatch)"
            else:
                try:
                    tensors = load_safetensors(blob)
                except (SafetensorError, ValueError) as err:
                    problem = f"unreadable ({err})"
        if tensors is not None:
            rows, dim = entry.get("rows"), entry.get("dim")
            features, ids = tensors.get("features"), tensors.get("ids")
            if features is None or ids is None or tuple(features.shape) != (rows, dim) \
                    or tuple(ids.shape) != (rows, ID_BYTES):
                problem = (f"mis-shaped (features {None if features is None else tuple(features.shape)}, "
                           f"manifest says ({rows}, {dim}))")
        if problem is None:
            return tensors
        log.warning(f"feature cache: shard {path} is {problem}; its {entry.get('rows')} samples will be encoded again")
        path.unlink(missing_ok=True)
        return None

    def read(self, ids: Sequence[str]) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The cached features of ``ids``; unreadable shards are dropped from the manifest.

        Args:
            ids: Sample ids (:func:`sample_ids`).

        Returns:
            (features [len(ids), D] with zeros where absent, or None when none is cached; bool found mask).
        """
        positions: dict[str, list[int]] = {}
        for i, sample_id in enumerate(ids):
            positions.setdefault(sample_id, []).append(i)
        found = torch.zeros(len(ids), dtype=torch.bool)
        features = None
        kept = []
        for entry in self.manifest["shards"]:
            tensors = self._load_shard(entry)
            if tensors is None:
                continue
            kept.append(entry)
            source, target = [], []
            for row, raw in enumerate(tensors["ids"].numpy()):
                for i in positions.get(raw.tobytes().hex(), ()):
                    source.append(row)
                    target.append(i)
            if target:
                if features is None:
                    features = torch.zeros(len(ids), tensors["features"].shape[1])
                features[target] = tensors["features"][source]
                found[target] = True
        if len(kept) != len(self.manifest["shards"]):
            self.manifest["shards"] = kept
            self.save_manifest()
        return features, found

    def append(self, ids: Sequence[str], features: torch.Tensor) -> Path:
        """Write one shard (atomically), then list it in the manifest (atomically).

        Args:
            ids: Sample ids, one per feature row.
            features: Features [len(ids), D].

        Returns:
            The shard file.

        Raises:
            ValueError: ``features`` is not [len(ids), D].
        """
        features = features.detach().to("cpu", torch.float32).contiguous()
        if features.ndim != 2 or features.shape[0] != len(ids):
            raise ValueError(f"a shard needs features [n, D] for n ids; got {tuple(features.shape)} for {len(ids)}")
        raw = np.frombuffer(b"".join(bytes.fromhex(i) for i in ids), dtype=np.uint8).reshape(len(ids), ID_BYTES)
        blob = save_safetensors({"features": features, "ids": torch.from_numpy(raw.copy())})
        manifest = self.manifest
        name = f"shard-{manifest['next']:06d}.safetensors"
        write_bytes(self.folder / name, blob)
        manifest["shards"].append({"file": name, "rows": len(ids), "dim": int(features.shape[1]),
                                   "sha256": hashlib.sha256(blob).hexdigest()})
        manifest["next"] += 1
        self.save_manifest()
        return self.folder / name


# ---------------------------------------------------------------------- encoding
@dataclasses.dataclass
class EncodedSamples:
    """Features of a dataset's samples; ``present`` is False for unreadable (skipped) ones."""

    features: torch.Tensor
    present: torch.Tensor
    skipped: list[tuple[str, str]]
    encoded: int
    reused: int


def encode_samples(dataset, ids: Sequence[str], store: FeatureStore, encode: Callable[[torch.Tensor], torch.Tensor],
                   batch_size: int = 64, workers: int = 0, shard_rows: int = SHARD_ROWS, pin_memory: bool = False,
                   progress: bool = False) -> EncodedSamples:
    """Features of every sample: read from ``store``, encoding (and storing) only what is missing.

    Shards of about ``shard_rows`` samples are stored as soon as they are encoded, so an
    interrupted call loses at most one shard of work.

    Args:
        dataset: The image dataset.
        ids: Its sample ids (:func:`sample_ids`).
        store: The key's folder.
        encode: Images [B, C, H, W] → features [B, D].
        batch_size: Images per encoder call.
        workers: DataLoader worker processes.
        shard_rows: Samples per stored shard.
        pin_memory: Pin batches (CUDA).
        progress: Show a progress bar.

    Returns:
        Features, present mask, skipped images and counts encoded / reused.

    Raises:
        ValueError: ``ids`` does not have one id per sample.
    """
    if len(ids) != len(dataset):
        raise ValueError(f"{len(ids)} ids for a dataset of {len(dataset)} samples")
    with store.locked():
        features, present = store.read(ids)
        reused = int(present.sum())
        missing = [i for i in range(len(ids)) if not present[i]]
        skipped: list[tuple[str, str]] = []
        encoded = 0
        if missing:
            loader = DataLoader(Subset(dataset, missing), batch_size=batch_size, shuffle=False, num_workers=workers,
                                collate_fn=collate_skipping_bad, pin_memory=pin_memory,
                                generator=torch.Generator().manual_seed(0))
            rows: list[torch.Tensor] = []
            chunks: list[torch.Tensor] = []

            def flush() -> None:
                if rows:
                    index = torch.cat(rows)
                    store.append([ids[i] for i in index.tolist()], torch.cat(chunks))
                    rows.clear()
                    chunks.clear()

            for batch in tqdm(loader, desc="encoding features", leave=False, disable=None if progress else True):
                skipped += batch.get("skipped", [])
                index = torch.as_tensor(batch["index"], dtype=torch.long)
                if index.numel() == 0:
                    continue
                out = encode(batch["image"]).detach().to("cpu", torch.float32)
                if features is None:
                    features = torch.zeros(len(ids), out.shape[1])
                features[index] = out
                present[index] = True
                encoded += index.numel()
                rows.append(index)
                chunks.append(out)
                if sum(len(r) for r in rows) >= shard_rows:
                    flush()
            flush()
    if features is None:  # every sample unreadable
        features = torch.zeros(len(ids), 0)
    return EncodedSamples(features, present, skipped, encoded, reused)


class CachedFeatureBatches(TensorBatches):
    """Cached features of an image split, batched in exactly the order :class:`EpochLoader` gives the images.

    The order is the (seed, epoch) permutation of the sample indices, so a run on cached features
    repeats the recomputing run step for step. ``index`` is the sample's index in the image
    dataset; unreadable samples (``present`` False) are left out.

    Args:
        features: Features [n, D] of every sample.
        targets: Targets [n, N].
        known: Known-label mask [n, N].
        present: Bool [n]: False for unreadable samples.
        batch_size: Samples per batch.
        shuffle: Draw a new order every epoch.
        seed: Seeds the order, as :class:`EpochLoader` does.
    """

    def __init__(self, features: torch.Tensor, targets: torch.Tensor, known: torch.Tensor, present: torch.Tensor,
                 batch_size: int, shuffle: bool, seed: int) -> None:
        super().__init__(features, targets, known, batch_size, shuffle=shuffle, seed=seed)
        self.present = torch.as_tensor(present, dtype=torch.bool)
        self.rows_present = int(self.present.sum())

    def __len__(self) -> int:
        n = self.rows_present
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self) -> torch.Tensor:
        """The present samples in this epoch's order.

        Returns:
            Row positions.
        """
        sampler = ShardedEpochSampler(self.features.shape[0], self.seed, self.shuffle)
        sampler.set_epoch(self.epoch)
        order = torch.as_tensor(sampler.indices(), dtype=torch.long)
        return order if self.rows_present == len(self.present) else order[self.present[order]]


def _encoder_fn(encoder: torch.nn.Module, runtime: Runtime):
    @torch.no_grad()
    def encode(images: torch.Tensor) -> torch.Tensor:
        with runtime.autocast():
            return encoder(runtime.batch(images)).float()

    return encode


def cached_feature_bundle(bundle, encoder: torch.nn.Module, config, runtime: Runtime, shard_rows: int = SHARD_ROWS):
    """The image ``bundle`` with every split replaced by :class:`CachedFeatureBatches` of ``encoder``'s features.

    ``feature_dim`` stays None: the model keeps its encoder.

    The global RNG state is restored afterwards, so a run with the cache draws the same dropout
    masks as one that recomputes features.

    Args:
        bundle: The image data.
        encoder: The frozen encoder.
        config: The run's config.
        runtime: Device, autocast and memory format the encoder runs with.
        shard_rows: Samples per stored shard.

    Returns:
        (the bundle on cached features, the skipped (image, reason) pairs).
    """
    state = rng_state()
    was_training = encoder.training
    encoder.eval()
    try:
        encode = _encoder_fn(encoder, runtime)
        weights = encoder_fingerprint(encoder)
        results, folders, skipped = {}, [], []
        for name in ("train", "val", "test"):
            dataset = getattr(bundle, name)
            if dataset is None:
                continue
            description = describe_pipeline(config.model.encoder, weights, dataset, runtime.device, runtime.amp,
                                              runtime.channels_last)
            store = FeatureStore(cache_root(config) / cache_key(description), description)
            results[name] = encode_samples(
                dataset, sample_ids(dataset, config.data.feature_cache_identity), store, encode,
                batch_size=config.train.batch_size, workers=config.data.workers, shard_rows=shard_rows,
                pin_memory=runtime.device.type == "cuda", progress=config.train.progress)
            skipped += results[name].skipped
            if str(store.folder) not in folders:
                folders.append(str(store.folder))
    finally:
        encoder.train(was_training)
        set_rng_state(state)

    def batches(name: str, shuffle: bool):
        if name not in results:
            return None
        dataset, result = getattr(bundle, name), results[name]
        return CachedFeatureBatches(result.features, dataset.targets, dataset.known, result.present,
                                    config.train.batch_size, shuffle=shuffle, seed=config.seed)

    encoded = sum(r.encoded for r in results.values())
    reused = sum(r.reused for r in results.values())
    log.info("feature cache %s: %d samples encoded, %d reused", ", ".join(folders), encoded, reused)
    info = {**bundle.info, "feature_cache": {"folders": folders, "encoded": encoded, "reused": reused,
                                             "skipped": len(skipped)}}
    cached = dataclasses.replace(bundle, train=batches("train", True), val=batches("val", False),
                                 test=batches("test", False), info=info, collate_fn=None)
    return cached, skipped
