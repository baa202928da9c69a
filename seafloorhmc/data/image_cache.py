"""Decode each photo once: an on-disk cache of the patches (with a margin) and shrunk images datasets cut.

A point-annotated source has 25-200 points on each 12-megapixel photo. Shuffled training visits a
photo's patches in different batches, so without a cache every patch decodes its whole photo
again (50 points: 50 decodes per photo per epoch). :func:`prepare_image_cache` instead decodes
each photo once, cuts every window a dataset will ask for, and stores the pixels uncompressed in
shards that later epochs, runs and sweep cells read with one memory-mapped slice per item.

**What is stored** per sample: a point/box/circle patch as its window *grown by a margin*
(``data.patch_margin``, a share of the window's side on every side: 0.25 covers a rotation by
any angle, which needs (√2 − 1) / 2 ≈ 0.21) so augmentations that look past the patch still have
real context; the dataset cuts the exact patch from the middle, which gives the same pixels as
cutting it from the photo (:mod:`~seafloorhmc.data.patches`: reflection is the same whatever the
pad), so training is bit-for-bit the same with and without the cache. A whole-image sample is
stored as :func:`~seafloorhmc.data.images.decode_image` delivers it with ``shrink_to`` (a large
photo with its shorter side at the working size, decoded in JPEG draft mode): the same function
the uncached path calls, so again the same pixels.

**Key** (one folder per key under ``data.image_cache``): cache version, margin, truncated-image
handling and decoder. **Entry identity**: the photo's identity (``data.feature_cache_identity``:
path + size + mtime, or a hash of the file), the sample's geometry, and the patch size (patches)
or the working side (whole images), so an edited photo, a moved point or another patch size is
cut again, while runs that differ in anything else (input size, augmentation, a sweep's methods)
share every entry they have in common.

**Format and interruption**: ``shard-NNNNNN.safetensors`` (``pixels`` uint8 flat, ``index``
int64 [n, 9], ``ids`` uint8 [n, 16]), each written atomically, then listed in ``manifest.json``
(also atomic) with its byte size; a killed build loses at most the photos of one unwritten shard
and the next call resumes. Shards whose size does not match are dropped and cut again (bit rot
inside a shard is not detected: it is only a cache; delete the folder to rebuild). A lock file
serialises processes sharing a folder (sweep cells, DDP ranks): the first builds, the others wait
and reuse. Unreadable photos are not stored; datasets meet them (and raise or skip) as before.

**Parallel build**: photos are decoded in ``data.workers`` DataLoader processes (when 0: one per
core, up to 8, as nothing else runs yet) and written by the main process, with a progress bar;
with ``data.gpu_decode`` JPEGs are decoded in batches on the GPU instead
(:mod:`~seafloorhmc.data.gpu_decode`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from safetensors.numpy import safe_open, save_file
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..utils.atomic import atomic_path
from ..utils.manifest_folder import ManifestFolder
from ..utils.seeding import rng_state, set_rng_state
from .gpu_decode import JpegData, cut_windows, decode_jpegs, read_jpeg, shrink
from .images import DEFAULT_MAX_PIXELS, BadImageError, DecodedImage, decode_image, image_size, shrinks
from .patches import Window, cut_window, window_for_geometry
from .records import Geometry

log = logging.getLogger(__name__)

__all__ = ["CACHE_VERSION", "CacheSettings", "CachedSample", "CutWindow", "ImageCache", "ImageCacheStore", "PhotoJob",
           "attach_image_cache", "build_workers", "cache_root", "cut_photo", "decode_device", "default_cache_root",
           "entry_id", "file_identity", "image_cache_applies", "prepare_image_cache", "shrink_side"]

CACHE_VERSION = 1
ID_BYTES = 16
SHARD_BYTES = 256 * 2**20  # a shard is written once it holds this many bytes of pixels
INDEX_COLUMNS = ("offset", "height", "width", "channels", "inner_top", "inner_left", "inner_height",
                 "inner_width", "truncated")
EVAL_RESIZE_RATIO = 256 / 224  # the eval transform's resize before its centre crop (transforms.eval_transform)


# ---------------------------------------------------------------------- settings and identities
def shrink_side(image_size: int, min_crop_scale: float = 1.0, augment: bool = False) -> int:
    """The shorter side whole images are worked at: enough that the network never sees upsampled pixels.

    The eval transform resizes the shorter side to ``round(image_size * 256 / 224)``; a random
    resized crop keeping a share ``s`` of the area needs ``image_size / sqrt(s)`` for its crop
    to stay at or above ``image_size`` pixels (for 4:3 frames and the crop's widest aspect ratio).

    Args:
        image_size: The network input side.
        min_crop_scale: The smallest area share a random resized crop keeps.
        augment: Whether the training transform crops (else only the eval transform matters).

    Returns:
        The working shorter side in pixels.
    """
    side = round(image_size * EVAL_RESIZE_RATIO)
    if augment:
        side = max(side, math.ceil(image_size / math.sqrt(min_crop_scale)))
    return int(side)


@dataclass(frozen=True)
class CacheSettings:
    """What is cut from each photo and how photos are read (:meth:`description`: the folder key's part)."""

    patch_size: int
    margin: float = 0.25
    shrink_to: int | None = None
    allow_truncated: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    identity: str = "stat"
    decoder: str = "pillow"

    def description(self) -> dict:
        """The settings that decide the stored pixels of every entry alike.

        Patch size and working side are in each entry's id instead (:func:`entry_id`);
        ``max_pixels`` only refuses photos.

        Returns:
            Plain data, hashed into :meth:`key`.
        """
        return {"cache_version": CACHE_VERSION, "margin": float(self.margin),
                "allow_truncated": bool(self.allow_truncated), "decoder": self.decoder}

    def key(self) -> str:
        """The folder name of these settings.

        Returns:
            32 hex digits.
        """
        return hashlib.sha256(json.dumps(self.description(), sort_keys=True).encode()).hexdigest()[:32]

    def margin_for(self, window: Window) -> int:
        """Pixels of context stored on each side of ``window``.

        Args:
            window: A sample's window.

        Returns:
            The margin in pixels.
        """
        return math.ceil(self.margin * max(window.height, window.width))


def file_identity(path: str, mode: str = "stat") -> list:
    """How the cache recognises a photo: resolved path, size and mtime (``stat``) or its SHA-256 (``content``).

    Args:
        path: The image file.
        mode: ``stat`` or ``content``.

    Returns:
        A JSON-able identity (``["unreadable", path]`` when the file cannot be read).
    """
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
        return ["unreadable", os.path.abspath(path)]


def entry_id(identity: list, geometry: Geometry | None, patch_size: int, shrink_to: int | None) -> str:
    """The hex id of one stored sample: its photo's identity, its geometry and the size it is cut at.

    Args:
        identity: :func:`file_identity` of the photo.
        geometry: The sample's geometry (None: the whole image).
        patch_size: Side of point patches (for patches).
        shrink_to: The working side (for whole images).

    Returns:
        32 hex digits.
    """
    where: list[object]
    if geometry is None or geometry.kind == "whole":
        where = ["whole", shrink_to]
    else:
        where = [geometry.kind, list(geometry.coords), geometry.normalised, int(patch_size)]
    return hashlib.blake2b(json.dumps([identity, where]).encode(), digest_size=ID_BYTES).hexdigest()


# ---------------------------------------------------------------------- cutting one photo
class CutWindow(NamedTuple):
    """Stored pixels of one sample and where the sample itself lies inside them."""

    pixels: np.ndarray
    inner: Window
    truncated: bool


@dataclass
class PhotoJob:
    """One photo and the entries to cut from it (``geometries[i]`` None: the whole, shrunk image)."""

    path: str
    ids: list[str] = field(default_factory=list)
    geometries: list[Geometry | None] = field(default_factory=list)


def _windows(pixels: np.ndarray, truncated: bool, geometries: Sequence[Geometry | None],
             settings: CacheSettings) -> list[CutWindow | str]:
    """Every patch window of one decoded photo, grown by the margin (a message for a place outside it)."""
    height, width = pixels.shape[:2]
    out: list[CutWindow | str] = []
    for geometry in geometries:
        try:
            window = window_for_geometry(geometry, settings.patch_size, width, height)
        except ValueError as err:
            out.append(str(err))
            continue
        assert window is not None  # only patch geometries come here
        margin = settings.margin_for(window)
        grown = window.grow(margin)
        out.append(CutWindow(cut_window(pixels, grown), window.inside(grown), truncated))
    return out


def cut_photo(job: PhotoJob, settings: CacheSettings,
              decode: Callable[..., DecodedImage] | None = None) -> list[CutWindow | str] | BadImageError:
    """Decode the photo once and cut every entry of ``job`` (whole images: one shrunk decode more).

    Args:
        job: The photo and its entries.
        settings: What to cut.
        decode: The decoder (default :func:`~seafloorhmc.data.images.decode_image`; tests count calls).

    Returns:
        Per entry its window, or a message when the place lies outside the photo; or the
        :class:`~seafloorhmc.data.images.BadImageError` of an unreadable photo.
    """
    decode = decode or decode_image
    out: list[CutWindow | str | None] = [None] * len(job.geometries)
    patches = [i for i, g in enumerate(job.geometries) if g is not None and g.kind != "whole"]
    whole = [i for i in range(len(job.geometries)) if i not in set(patches)]
    try:
        if patches:
            decoded = decode(job.path, settings.max_pixels, settings.allow_truncated)
            for i, cut in zip(patches, _windows(decoded.pixels, decoded.truncated,
                                                [job.geometries[i] for i in patches], settings)):
                out[i] = cut
        if whole:
            decoded = decode(job.path, settings.max_pixels, settings.allow_truncated, shrink_to=settings.shrink_to)
            height, width = decoded.pixels.shape[:2]
            for i in whole:
                out[i] = CutWindow(decoded.pixels, Window(0, 0, height, width), decoded.truncated)
    except BadImageError as err:
        return err
    return out  # type: ignore[return-value]


# ---------------------------------------------------------------------- the store
def _tensor_span(path: Path, name: str) -> tuple[int, int]:
    """Absolute byte range of tensor ``name`` in a safetensors file.

    The format: an 8-byte little-endian header length, the JSON header (``data_offsets``
    relative to the data section), then the data.
    """
    with open(path, "rb") as raw:
        (length,) = struct.unpack("<Q", raw.read(8))
        header = json.loads(raw.read(length))
    start, stop = header[name]["data_offsets"]
    return 8 + length + int(start), 8 + length + int(stop)


def _shard_index(path: Path, entry: dict) -> tuple[np.ndarray, np.ndarray]:
    """A shard's ``index`` and ``ids``, checked against its manifest entry (size and shapes)."""
    if path.stat().st_size != entry.get("bytes"):
        raise ValueError(f"{path.stat().st_size} bytes, manifest says {entry.get('bytes')}")
    with safe_open(str(path), framework="numpy") as shard:
        index, ids = shard.get_tensor("index"), shard.get_tensor("ids")
    if index.shape != (entry.get("rows"), len(INDEX_COLUMNS)) or ids.shape != (entry.get("rows"), ID_BYTES):
        raise ValueError(f"index {index.shape}, ids {ids.shape} for {entry.get('rows')} rows")
    return index, ids


class CachedSample(NamedTuple):
    """Where one entry's pixels lie: shard number and its ``index`` row."""

    shard: int
    row: tuple[int, ...]


class ImageCacheStore(ManifestFolder):
    """One key's folder: shards listed in an atomically rewritten manifest (module doc).

    Args:
        folder: The key's folder.
        description: The settings' description, recorded in a new manifest.
    """

    version = CACHE_VERSION
    kind = "image cache"
    unreadable = "cutting this folder's photos again"

    def entries(self) -> dict[str, CachedSample]:
        """Every stored entry by id; shards that are missing or of the wrong size are dropped (and logged).

        Returns:
            Where each entry's pixels lie.
        """
        found: dict[str, CachedSample] = {}
        kept = []
        for entry in self.manifest["shards"]:
            path = self.folder / str(entry.get("file"))
            try:
                index, ids = _shard_index(path, entry)
            except (OSError, ValueError, KeyError) as err:
                log.warning("image cache: shard %s is unusable (%s); its samples will be cut again", path, err)
                path.unlink(missing_ok=True)
                continue
            kept.append(entry)
            number = int(entry["number"])
            for raw, row in zip(ids, index.tolist()):
                found[raw.tobytes().hex()] = CachedSample(number, tuple(row))
        if len(kept) != len(self.manifest["shards"]):
            self.manifest["shards"] = kept
            self.save_manifest()
        return found

    def append(self, ids: Sequence[str], cuts: Sequence[CutWindow]) -> Path:
        """Write one shard of cut windows (atomically), then list it in the manifest (atomically).

        Args:
            ids: Entry ids, one per cut.
            cuts: The windows.

        Returns:
            The shard's path.

        Raises:
            ValueError: If ids and cuts differ in number.
        """
        if len(ids) != len(cuts):
            raise ValueError(f"{len(ids)} ids for {len(cuts)} windows")
        index = np.zeros((len(cuts), len(INDEX_COLUMNS)), dtype=np.int64)
        offset = 0
        for row, cut in zip(index, cuts):
            pixels = cut.pixels if cut.pixels.ndim == 3 else cut.pixels[:, :, None]
            height, width, channels = pixels.shape
            row[:] = (offset, height, width, channels, *cut.inner, int(cut.truncated))
            offset += pixels.size
        flat = np.empty(offset, dtype=np.uint8)
        for row, cut in zip(index, cuts):
            flat[row[0]:row[0] + cut.pixels.size] = np.ascontiguousarray(cut.pixels).reshape(-1)
        raw = np.frombuffer(b"".join(bytes.fromhex(i) for i in ids), dtype=np.uint8).reshape(len(ids), ID_BYTES)
        manifest = self.manifest
        name = f"shard-{manifest['next']:06d}.safetensors"
        with atomic_path(self.folder / name) as tmp:
            save_file({"pixels": flat, "index": index, "ids": raw.copy()}, str(tmp))
        size = (self.folder / name).stat().st_size
        manifest["shards"].append({"file": name, "number": manifest["next"], "rows": len(ids), "bytes": size})
        manifest["next"] += 1
        self.save_manifest()
        return self.folder / name


class ImageCache:
    """Read side of a store: an entry's pixels by id, from memory-mapped shards (opened per process).

    Picklable: DataLoader workers get the entry table and reopen the shards themselves.

    Args:
        folder: The key's folder.
        entries: Where each entry lies (:meth:`ImageCacheStore.entries`).
    """

    def __init__(self, folder: str | Path, entries: dict[str, CachedSample]) -> None:
        self.folder = Path(folder)
        self.entries = entries
        self.files: dict[int, Path] = {}
        for sample in entries.values():
            self.files.setdefault(sample.shard, self.folder / f"shard-{sample.shard:06d}.safetensors")
        self._maps: dict[int, np.ndarray] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_maps": {}}

    def __contains__(self, entry: str) -> bool:
        return entry in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def _pixels_of(self, shard: int) -> np.ndarray:
        if shard not in self._maps:
            path = self.files[shard]
            start, stop = _tensor_span(path, "pixels")
            self._maps[shard] = np.memmap(path, dtype=np.uint8, mode="r", offset=start, shape=(stop - start,))
        return self._maps[shard]

    def window(self, entry: str) -> tuple[np.ndarray, Window, bool]:
        """The stored pixels of an entry (a read-only memory map), where its sample lies inside them, truncated flag.

        Args:
            entry: The entry id.

        Returns:
            (pixels H x W x C, the sample's window inside them, whether the photo was truncated).
        """
        sample = self.entries[entry]
        offset, height, width, channels, top, left, rows, cols, truncated = sample.row
        pixels = self._pixels_of(sample.shard)[offset:offset + height * width * channels]
        return pixels.reshape(height, width, channels), Window(top, left, rows, cols), bool(truncated)

    def sample(self, entry: str) -> tuple[np.ndarray, bool]:
        """The sample's own pixels (the patch without its margin, or the shrunk image), copied into memory.

        Args:
            entry: The entry id.

        Returns:
            (pixels H x W x 3, whether the photo was truncated).
        """
        pixels, inner, truncated = self.window(entry)
        top, left, rows, cols = inner
        return np.array(pixels[top:top + rows, left:left + cols]), truncated


# ---------------------------------------------------------------------- building
class _PhotoCuts(Dataset):
    """Jobs → their cut windows, in DataLoader workers (windows travel as shared-memory tensors)."""

    def __init__(self, jobs: Sequence[PhotoJob], settings: CacheSettings) -> None:
        self.jobs, self.settings = list(jobs), settings

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int):
        result = cut_photo(self.jobs[index], self.settings)
        if isinstance(result, BadImageError):
            return index, result
        return index, [cut if isinstance(cut, str) else (torch.from_numpy(np.ascontiguousarray(cut.pixels)),
                                                         cut.inner, cut.truncated) for cut in result]


def _first(batch):
    return batch[0]


class _PhotoBytes(Dataset):
    """Jobs → the bytes of their JPEGs (read in DataLoader workers), None for the CPU decoder, or the error."""

    def __init__(self, jobs: Sequence[PhotoJob], max_pixels: int | None) -> None:
        self.jobs, self.max_pixels = list(jobs), max_pixels

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int):
        try:
            return index, read_jpeg(self.jobs[index].path, self.max_pixels)
        except BadImageError as err:
            return index, err


def _as_list(batch):
    return list(batch)


def _cut_tensor(image: torch.Tensor, job: PhotoJob, settings: CacheSettings) -> list[CutWindow | str]:
    """:func:`cut_photo` for a photo decoded into a tensor (windows cut on its device, then copied to the host)."""
    height, width = image.shape[:2]
    out: list[CutWindow | str] = []
    for geometry in job.geometries:
        if geometry is None or geometry.kind == "whole":
            shrink_to = settings.shrink_to
            pixels = image
            if shrink_to is not None and shrinks((width, height), shrink_to):
                pixels = shrink(image, shrink_to)
            out.append(CutWindow(pixels.cpu().numpy(), Window(0, 0, *pixels.shape[:2]), False))
            continue
        try:
            window = window_for_geometry(geometry, settings.patch_size, width, height)
        except ValueError as err:
            out.append(str(err))
            continue
        assert window is not None  # whole images were handled above
        grown = window.grow(settings.margin_for(window))
        (pixels,) = cut_windows(image, [grown])
        out.append(CutWindow(pixels.cpu().numpy(), window.inside(grown), False))
    return out


def _gpu_cut_all(device: torch.device, photos_per_batch: int = 8):
    """A ``_cut_all`` that decodes JPEGs on ``device`` in batches (:mod:`~seafloorhmc.data.gpu_decode`).

    Workers only read the files; photos the GPU decoder cannot take are cut on the CPU.
    """

    def cut_all(jobs: Sequence[PhotoJob], settings: CacheSettings, workers: int):
        loader = DataLoader(_PhotoBytes(jobs, settings.max_pixels), batch_size=photos_per_batch, shuffle=False,
                            num_workers=workers, collate_fn=_as_list, generator=torch.Generator().manual_seed(0))
        for batch in loader:
            jpegs = [(index, data) for index, data in batch if isinstance(data, JpegData)]
            images = dict(zip([index for index, _ in jpegs], decode_jpegs([data for _, data in jpegs], device)))
            for index, data in batch:
                if isinstance(data, BadImageError):
                    yield index, data
                elif images.get(index) is None:
                    yield index, cut_photo(jobs[index], settings)
                else:
                    yield index, _cut_tensor(images[index], jobs[index], settings)

    return cut_all


def _cut_all(jobs: Sequence[PhotoJob], settings: CacheSettings,
             workers: int) -> Iterable[tuple[int, list[CutWindow | str] | BadImageError]]:
    """(job index, cuts or error) for every job; in worker processes when ``workers`` > 0."""
    if workers <= 0:
        for index, job in enumerate(jobs):
            yield index, cut_photo(job, settings)
        return
    loader = DataLoader(_PhotoCuts(jobs, settings), batch_size=1, shuffle=False, num_workers=workers,
                        collate_fn=_first, generator=torch.Generator().manual_seed(0))
    for index, result in loader:
        if isinstance(result, BadImageError):
            yield index, result
        else:
            # copied out of the shared-memory segment at once: a shard holds up to SHARD_BYTES of windows
            yield index, [cut if isinstance(cut, str) else CutWindow(cut[0].numpy().copy(), cut[1], cut[2])
                          for cut in result]


@dataclass
class BuildReport:
    """What one build did."""

    photos_decoded: int = 0
    stored: int = 0
    reused: int = 0
    bad_photos: list[tuple[str, str]] = field(default_factory=list)
    outside: int = 0


def _build(store: ImageCacheStore, jobs: Sequence[PhotoJob], settings: CacheSettings, workers: int,
           progress: bool, cut_all=None) -> BuildReport:
    report = BuildReport()
    ids: list[str] = []
    cuts: list[CutWindow] = []
    held = 0
    bar = tqdm(total=len(jobs), desc="caching patches", unit="photo", leave=False,
               disable=None if progress else True)
    for index, result in (cut_all or _cut_all)(jobs, settings, workers):
        bar.update(1)
        job = jobs[index]
        if isinstance(result, BadImageError):
            report.bad_photos.append((result.path, result.reason))
            continue
        report.photos_decoded += 1
        for entry, cut in zip(job.ids, result):
            if isinstance(cut, str):
                report.outside += 1
                continue
            ids.append(entry)
            cuts.append(cut)
            held += cut.pixels.size
        if held >= SHARD_BYTES:
            store.append(ids, cuts)
            report.stored += len(ids)
            ids, cuts, held = [], [], 0
    if ids:
        store.append(ids, cuts)
        report.stored += len(ids)
    bar.close()
    return report


def _jobs(samples: Iterable[tuple[str, Geometry | None]], settings: CacheSettings,
          known: dict[str, CachedSample] | None = None) -> tuple[list[PhotoJob], list[str], int]:
    """Group samples by photo: (jobs for the entries not in ``known``, every sample's id, entries reused)."""
    identities: dict[str, list] = {}
    by_photo: dict[str, PhotoJob] = {}
    every: list[str] = []
    seen: set[str] = set()
    reused = 0
    for path, geometry in samples:
        if path not in identities:
            identities[path] = file_identity(path, settings.identity)
        geometry = None if geometry is None or geometry.kind == "whole" else geometry
        entry = entry_id(identities[path], geometry, settings.patch_size, settings.shrink_to)
        every.append(entry)
        if entry in seen:
            continue
        seen.add(entry)
        if known is not None and entry in known:
            reused += 1
            continue
        job = by_photo.setdefault(path, PhotoJob(path))
        job.ids.append(entry)
        job.geometries.append(geometry)
    return list(by_photo.values()), every, reused


def default_cache_root() -> Path:
    """Where ``data.image_cache=auto`` keeps the cache.

    Returns:
        ``$SEAFLOORHMC_DATA/images``, else ``~/.cache/seafloorhmc/images``.
    """
    base = Path(os.environ.get("SEAFLOORHMC_DATA", Path.home() / ".cache" / "seafloorhmc")).expanduser()
    return base / "images"


def cache_root(setting: str) -> Path:
    """The folder ``data.image_cache`` names (``auto``: :func:`default_cache_root`).

    Args:
        setting: ``auto`` or a folder.

    Returns:
        The cache root.
    """
    return default_cache_root() if setting == "auto" else Path(setting).expanduser()


def image_cache_applies(setting: str, samples: Iterable[tuple[str, Geometry | None]], shrink_to: int | None) -> bool:
    """Whether ``data.image_cache`` caches these samples.

    ``off``: never; a folder: always; ``auto``: when some sample is a patch (cut from a photo that
    would otherwise be decoded once per patch) or the first photo is large enough to be shrunk
    (its decode is the cost an epoch would repeat).

    Args:
        setting: ``auto``, ``off`` or a folder.
        samples: (image path, geometry) of every sample.
        shrink_to: The whole-image working side.

    Returns:
        Whether to cache.
    """
    if setting == "off":
        return False
    if setting != "auto":
        return True
    first = None
    for path, geometry in samples:
        if geometry is not None and geometry.kind != "whole":
            return True
        first = first or path
    if first is None or shrink_to is None:
        return False
    try:
        return shrinks(image_size(first), shrink_to)
    except BadImageError:
        return False


def prepare_image_cache(samples: Sequence[tuple[str, Geometry | None]], settings: CacheSettings,
                        root: str | Path, workers: int = 0, progress: bool = False,
                        gpu: str | torch.device | None = None) -> tuple[ImageCache, list[str], dict]:
    """Cut every sample's window once (what is missing from the cache), and open the cache for reading.

    The global random state is left as it was, so a run that builds the cache draws the same
    numbers as one that does not.

    Args:
        samples: (image path, geometry) of every sample, in dataset order.
        settings: What to cut.
        root: The cache root (a folder per settings key below it).
        workers: Decoding processes (0: this process).
        progress: Show a progress bar.
        gpu: Decode JPEGs in batches on this CUDA device (:mod:`~seafloorhmc.data.gpu_decode`).

    Returns:
        (the cache, every sample's entry id, a summary: folder, photos decoded, entries stored
        and reused, unreadable photos).
    """
    state = rng_state()
    try:
        store = ImageCacheStore(Path(root) / settings.key(), settings.description())
        with store.locked():
            known = store.entries()
            jobs, ids, reused = _jobs(samples, settings, known)
            cut_all = None if gpu is None else _gpu_cut_all(torch.device(gpu))
            report = _build(store, jobs, settings, workers, progress, cut_all) if jobs else BuildReport()
            entries = store.entries() if jobs else known
    finally:
        set_rng_state(state)
    summary = {"folder": str(store.folder), "photos_decoded": report.photos_decoded, "stored": report.stored,
               "reused": reused, "unreadable_photos": len(report.bad_photos)}
    log.info("image cache %s: %d photos decoded, %d windows stored, %d reused", store.folder,
             report.photos_decoded, report.stored, reused)
    return ImageCache(store.folder, entries), ids, summary


def build_workers(configured: int = 0) -> int:
    """Decoding processes of a cache build: ``data.workers`` when set, else one per core (up to 8; 0 on one core).

    Args:
        configured: The ``data.workers`` setting.

    Returns:
        The number of worker processes (0: decode in this process).
    """
    if configured > 0:
        return int(configured)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(8, cores) if cores > 1 else 0


def decode_device(gpu_decode: bool, device: str | torch.device | None) -> torch.device | None:
    """The CUDA device JPEGs are decoded on, or None (``data.gpu_decode`` off, or the model runs on the CPU).

    Args:
        gpu_decode: The ``data.gpu_decode`` setting.
        device: Where the model runs (``auto``, ``cpu``, ``cuda``, ``cuda:N`` or a device).

    Returns:
        The device, or None to decode on the CPU.
    """
    if not gpu_decode or device is None:
        return None
    if str(device) == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else None
    device = torch.device(device)
    return device if device.type == "cuda" and torch.cuda.is_available() else None


def attach_image_cache(datasets: Sequence, config, dist=None) -> dict | None:
    """Cut what the image datasets of a run need into the cache (once) and make them read from it.

    Args:
        datasets: :class:`~seafloorhmc.data.dataset.HierarchicalImageDataset` splits (None entries skipped).
        config: The run configuration (``data.image_cache``, ``patch_size``, ``patch_margin``,
            ``workers``, ``gpu_decode``, ...).
        dist: The process group (the progress bar shows on rank 0 only; the folder lock makes the
            first rank build and the others reuse).

    Returns:
        The cache summary for the run's data info, or None when the cache does not apply.
    """
    datasets = [ds for ds in datasets if ds is not None]
    d = config.data
    samples = [pair for ds in datasets for pair in ds.cache_samples()]
    shrink_to = datasets[0].shrink_to if datasets else None
    if not datasets or not image_cache_applies(d.image_cache, samples, shrink_to):
        return None
    model_device = getattr(dist, "device", None) or config.train.device
    gpu = decode_device(d.gpu_decode, model_device)
    settings = CacheSettings(d.patch_size, d.patch_margin, shrink_to, d.allow_truncated, d.max_image_pixels,
                             d.feature_cache_identity, "nvjpeg" if gpu is not None else "pillow")
    progress = bool(config.train.progress) and (dist is None or dist.is_main)
    cache, ids, summary = prepare_image_cache(samples, settings, cache_root(d.image_cache),
                                              workers=build_workers(d.workers), progress=progress, gpu=gpu)
    start = 0
    for ds in datasets:
        ds.use_cache(cache, ids[start:start + len(ds)])
        start += len(ds)
    return summary
