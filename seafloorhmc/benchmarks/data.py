"""The input pipeline on survey-sized photos: every training and predict rate against its limit, in one run.

The photos are :func:`~seafloorhmc.data.synthetic.survey.write_survey_dataset` JPEGs (4000 x 3000,
quality 90, 25-100 CoralNet points each by default). In one process the benchmark measures:

* **limits**: decoding alone on one core (full decode, and the shrunk draft-mode decode whole
  images get), the input pipeline of predict on one core (decode each photo once, cut, eval
  transform), the encoder's forward on pre-made tensors (predict's compute) and a full training
  step on pre-made tensors (training's compute);
* **training** on the points, 3 epochs: with the image cache (the build, which decodes each photo
  once, counts towards the first epoch) against the same training on the same patches pre-cut
  to PNG files (same samples, seed, model and transform; no decoding of large photos at all), and
  a few steps without any cache (every patch decodes its photo). Both full trainings see
  identical pixels, so their loss curves must agree exactly;
* **predict** (``write_predictions``, end to end) on the points and on the whole photos, against
  the bound the same run's limits set: the input pipeline's core-seconds spread over the cores,
  plus the encoder's forward (``input / cores + encoder``).

Every figure is printed with its limit and their ratio, so a slower or busier machine shifts the
rates but hardly the ratios. The measurements run one after another (not interleaved): on a shared
machine, repeat them (``--rounds``) and read the medians.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import logging
import os
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..config import load_config
from ..data.dataset import HierarchicalImageDataset
from ..data.image_cache import shrink_side
from ..data.images import decode_image
from ..data.patches import crop_for_geometry
from ..data.records import Sample
from ..data.synthetic.survey import write_survey_dataset
from ..data.transforms import eval_transform_for
from ..datamodule import prepare_data
from ..losses import build_loss
from ..models import build_model
from ..prediction.inputs import PredictionDataset, collect_items
from ..prediction.predictor import PredictOptions, default_workers, write_predictions
from ..taxonomy import Taxonomy
from ..training.optim import build_optimizer
from ..training.run_dir import RunDir
from ..training.trainer import Trainer
from ..utils.allocator import keep_freed_memory
from .predict import build_random_checkpoint, encoder_seconds

log = logging.getLogger(__name__)

__all__ = ["DataBenchResult", "DataBenchSettings", "format_table", "run_data_bench", "survey_folder"]


@dataclass
class DataBenchSettings:
    """What to measure on (defaults: the table of docs/benchmarks.md, about 7 minutes on 2 cores)."""

    photos: int = 48
    width: int = 4000
    height: int = 3000
    points: tuple[int, int] = (25, 100)
    quality: int = 90
    encoder: str = "resnet10t"
    image_size: int = 64
    patch_size: int = 224
    batch_size: int = 32
    epochs: int = 3
    train_workers: int = 1
    predict_workers: int | None = None
    uncached_steps: int = 1
    rounds: int = 3
    seed: int = 0


@dataclass
class DataBenchResult:
    """Seconds of every measurement (lists hold one value per round) and what they covered."""

    settings: DataBenchSettings
    points: int = 0
    cores: int = 1
    threads: int = 1
    predict_workers: int = 0
    decode_full: list[float] = field(default_factory=list)
    decode_shrunk: list[float] = field(default_factory=list)
    input_points: list[float] = field(default_factory=list)
    input_whole: list[float] = field(default_factory=list)
    encoder_forward: list[float] = field(default_factory=list)
    train_step: list[float] = field(default_factory=list)
    cache_build: float = 0.0
    photos_decoded: int = 0
    cached_epochs: list[float] = field(default_factory=list)
    precut_epochs: list[float] = field(default_factory=list)
    uncached_items: int = 0
    uncached_seconds: float = float("nan")
    losses_equal: bool = False
    predict_points: list[float] = field(default_factory=list)
    predict_whole: list[float] = field(default_factory=list)
    core_seconds: dict[str, list[float]] = field(default_factory=dict)  # CPU time, this process + its workers

    @staticmethod
    def median(values: list[float]) -> float:
        """Median of the rounds (nan when not measured).

        Args:
            values: Seconds, one per round.

        Returns:
            Their median.
        """
        return statistics.median(values) if values else float("nan")

    @property
    def later_epoch_ratio(self) -> float:
        """Median cached epoch after the first over the median pre-cut epoch after the first (target <= 1.25)."""
        return self.median(self.cached_epochs[1:]) / self.median(self.precut_epochs[1:])

    def bound(self, input_seconds: float, encoder_seconds: float) -> float:
        """Seconds predict cannot beat: all core-seconds spread over the cores, and no less than the encoder.

        The input pipeline's and the encoder's core-seconds are spread over the cores; the
        encoder alone runs on ``threads`` cores at most, so the bound is never below its time.

        Args:
            input_seconds: The input pipeline on one core.
            encoder_seconds: The encoder's forward with ``threads`` threads.

        Returns:
            The bound in seconds.
        """
        return max(encoder_seconds, (input_seconds + self.threads * encoder_seconds) / self.cores)

    @property
    def bound_points(self) -> float:
        """:meth:`bound` of predict on the points."""
        return self.bound(self.median(self.input_points), self.median(self.encoder_forward))

    @property
    def bound_whole(self) -> float:
        """:meth:`bound` of predict on whole photos (one encoder pass per photo)."""
        per_item = self.median(self.encoder_forward) / max(self.points, 1)
        return self.bound(self.median(self.input_whole), per_item * self.settings.photos)


def survey_folder(settings: DataBenchSettings) -> Path:
    """Where the benchmark's photos are kept between runs ($SEAFLOORHMC_DATA or ~/.cache/seafloorhmc).

    Args:
        settings: The photo parameters.

    Returns:
        The folder.
    """
    base = Path(os.environ.get("SEAFLOORHMC_DATA", Path.home() / ".cache" / "seafloorhmc")).expanduser()
    s = settings
    return base / (f"bench-data-n{s.photos}-{s.width}x{s.height}-q{s.quality}-p{s.points[0]}-{s.points[1]}"
                   f"-seed{s.seed}")


def _config(folder: Path, settings: DataBenchSettings, work: Path, *extra: str):
    s = settings
    return load_config(None, [
        "data.format=coralnet", f"data.annotations={folder / 'annotations.csv'}",
        f"data.label_map={folder / 'label_map.csv'}", "data.group_by=annotation", f"data.patch_size={s.patch_size}",
        f"data.image_size={s.image_size}", "data.normalisation=imagenet", "data.val_fraction=0",
        "data.test_fraction=0", f"data.workers={s.train_workers}", f"data.image_cache={work / 'image-cache'}",
        f"model.encoder={s.encoder}", "model.members=1", "model.hidden=256", f"train.epochs={s.epochs}",
        f"train.batch_size={s.batch_size}", "train.progress=false", "train.report=false", "train.device=cpu",
        f"seed={s.seed}", *extra])


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (DataLoader workers once joined)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _time(fn, result: DataBenchResult | None = None, name: str = "") -> float:
    """Wall seconds of ``fn()``; its CPU seconds go to ``result.core_seconds[name]``.

    A busy machine stretches the wall time, not the work, so CPU seconds show a pipeline's
    overhead on a shared machine too.
    """
    cpu, start = _cpu_seconds(), time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    if result is not None:
        result.core_seconds.setdefault(name, []).append(_cpu_seconds() - cpu)
    return wall


def _decode_limits(result: DataBenchResult, photos: list[str], shrink_to: int) -> None:
    result.decode_full.append(_time(lambda: [decode_image(p) for p in photos]))
    result.decode_shrunk.append(_time(lambda: [decode_image(p, shrink_to=shrink_to) for p in photos]))


def _input_seconds(dataset: PredictionDataset, result: DataBenchResult, name: str) -> float:
    """One core: every item in photo order (each photo decoded once), through the eval transform."""
    order = [i for batch in dataset.photo_batches(len(dataset)) for i in batch]
    return _time(lambda: [dataset[i] for i in order], result, name)


def _train_step_seconds(config, taxonomy: Taxonomy, items: int) -> float:
    """A full training step (forward, loss, backward, optimiser) over ``items`` pre-made inputs."""
    size, batch = config.data.image_size, config.train.batch_size
    model, _ = build_model(config.model, taxonomy, seed=config.seed)
    targets = torch.zeros(batch, len(taxonomy))
    targets[:, 0] = 1.0
    loss_fn = build_loss(config, taxonomy, targets, None)
    optimizer = build_optimizer(model, config.train, extra_params=loss_fn.parameters())
    inputs = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    sizes = [batch] * (items // batch) + ([items % batch] if items % batch > 1 else [])  # batch norm needs 2
    model.train()

    def step(b: int) -> None:
        loss = loss_fn(model(inputs[:b]).float(), targets[:b], None)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def steps() -> None:
        for b in sizes:
            step(b)

    step(batch)  # warm-up
    return _time(steps)


def _precut(data, folder: Path) -> HierarchicalImageDataset:
    """The training split with every patch written to a PNG and read back as a whole image (no shrinking)."""
    train = data.train
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for index, sample in enumerate(train.samples):
        path = folder / f"patch-{index:06d}.png"
        if not path.is_file():
            pixels = crop_for_geometry(decode_image(train.image_path(index)).pixels, sample.geometry,
                                       train.patch_size) if train.cache is None else train.cache.sample(
                                           train.cache_ids[index])[0]
            Image.fromarray(pixels).save(path, compress_level=1)
        samples.append(Sample(str(path), sample.labels, sample.complete, None, sample.split, sample.where))
    return HierarchicalImageDataset(samples, train.taxonomy, train.transform, train.patch_size, train.max_pixels,
                                    train.allow_truncated, train.skip_bad, train.seed, shrink_to=None)


def _fit(config, data, out: Path) -> tuple[list[dict], list[float]]:
    """Train epoch by epoch: (the log's records, CPU seconds of each epoch in all processes)."""
    run = RunDir(out)
    run.prepare(overwrite=True)
    trainer = Trainer(config, run, data=data)
    cpu = []
    with contextlib.redirect_stdout(io.StringIO()):
        for epoch in range(config.train.epochs):
            before = _cpu_seconds()
            trainer.fit(stop_after_epoch=epoch)
            cpu.append(_cpu_seconds() - before)
    return trainer.state.history, cpu


def _training(result: DataBenchResult, folder: Path, work: Path) -> None:
    s = result.settings
    config = _config(folder, s, work)
    holder = []
    result.cache_build = _time(lambda: holder.append(prepare_data(config)), result, "cache_build")  # the build
    data = holder[0]
    result.photos_decoded = int(data.info["image_cache"]["photos_decoded"])
    cached, result.core_seconds["cached_epochs"] = _fit(config, data, work / "run-cached")
    result.cached_epochs = [float(r["seconds"]) for r in cached]
    result.cached_epochs[0] += result.cache_build
    result.core_seconds["cached_epochs"][0] += result.core_seconds["cache_build"][0]
    precut = dataclasses.replace(data, train=_precut(data, work / "patches"))
    reference, result.core_seconds["precut_epochs"] = _fit(config, precut, work / "run-precut")
    result.precut_epochs = [float(r["seconds"]) for r in reference]
    result.losses_equal = [r["train_loss"] for r in cached] == [r["train_loss"] for r in reference]
    if s.uncached_steps:
        capped = _config(folder, s, work, f"train.max_steps_per_epoch={s.uncached_steps}", "train.epochs=1")
        train = data.train
        assert isinstance(train, HierarchicalImageDataset)  # image data: the benchmark built it
        train.use_cache(None)
        history, _ = _fit(capped, data, work / "run-uncached")
        result.uncached_items = min(s.uncached_steps * s.batch_size, len(train))
        result.uncached_seconds = float(history[0]["seconds"])


def run_data_bench(settings: DataBenchSettings | None = None, work: str | Path | None = None,
                   progress: bool = True) -> DataBenchResult:
    """Write (or reuse) the survey photos, then measure every rate and its limit (module doc).

    Args:
        settings: What to measure on.
        work: Folder for caches, patches and runs (default: a temporary one, removed).
        progress: Show progress bars while the photos are written.

    Returns:
        The measurements.
    """
    s = settings or DataBenchSettings()
    keep_freed_memory()  # as the command line does: limits and pipelines under the same allocator settings
    folder = survey_folder(s)
    annotations = write_survey_dataset(folder, s.photos, s.width, s.height, s.points, s.quality, s.seed,
                                       progress=progress)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = default_workers() if s.predict_workers is None else s.predict_workers
    result = DataBenchResult(s, cores=cores, threads=torch.get_num_threads(), predict_workers=workers)
    with contextlib.ExitStack() as stack:
        base = Path(work) if work else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-data-")))
        config = _config(folder, s, base)
        taxonomy = Taxonomy.from_paths(_label_paths(folder), sep=" > ")
        checkpoint = build_random_checkpoint(base / "model.safetensors", taxonomy, s.encoder, s.image_size,
                                             members=1, hidden=256, batch_size=s.batch_size, seed=s.seed)
        points = collect_items(annotations, "coralnet")
        whole = collect_items(folder, "folder")
        result.points = len(points)
        eval_tf = eval_transform_for(config)
        shrink_to = shrink_side(s.image_size, config.data.min_crop_scale, config.data.augment)
        options: dict[str, Any] = dict(batch_size=s.batch_size, workers=workers, progress=False, device="cpu")
        encoder = build_model(config.model, taxonomy, seed=s.seed)[0].encoder
        for r in range(s.rounds):
            _decode_limits(result, [item.path for item in whole], shrink_to)
            result.input_points.append(_input_seconds(PredictionDataset(points, eval_tf, s.patch_size), result,
                                                      "input_points"))
            result.input_whole.append(_input_seconds(PredictionDataset(whole, eval_tf, s.patch_size,
                                                                       shrink_to=shrink_to), result, "input_whole"))
            cpu = _cpu_seconds()
            result.encoder_forward.append(encoder_seconds(encoder, len(points), s.batch_size, s.image_size))
            result.core_seconds.setdefault("encoder_forward", []).append(_cpu_seconds() - cpu)
            result.train_step.append(_train_step_seconds(config, taxonomy, len(points)))
            result.predict_points.append(_time(lambda: write_predictions(
                checkpoint, annotations, base / "points.csv", PredictOptions(format="coralnet", **options),
                overwrite=True), result, "predict_points"))
            result.predict_whole.append(_time(lambda: write_predictions(
                checkpoint, folder, base / "whole.csv", PredictOptions(format="folder", **options), overwrite=True),
                result, "predict_whole"))
            log.info("round %d/%d: predict points %.1f s, whole %.1f s", r + 1, s.rounds,
                     result.predict_points[-1], result.predict_whole[-1])
        _training(result, folder, base)
    return result


def _label_paths(folder: Path) -> list[str]:
    with open(folder / "label_map.csv", newline="", encoding="utf-8") as handle:
        return [row["path"] for row in csv.DictReader(handle)]


def format_table(result: DataBenchResult) -> str:
    """The benchmark's markdown table and its verdicts.

    Args:
        result: The measurements.

    Returns:
        Text for ``docs/benchmarks.md``.
    """
    s, r, med = result.settings, result, result.median
    n, photos = r.points, s.photos
    step_limit = n / med(r.train_step)
    lines = [
        f"{photos} photos of {s.width}x{s.height} (JPEG q{s.quality}), {n} CoralNet points ({n / photos:.1f} per "
        f"photo), {s.encoder} at {s.image_size} px, patches {s.patch_size} px, batch {s.batch_size}, {r.cores} cores "
        f"({r.threads} torch threads), predict with {r.predict_workers} decoding worker(s), training "
        f"with data.workers={s.train_workers}; medians of {s.rounds} round(s)",
        "",
        "| measurement | items | seconds | items/s | limit items/s | share of limit |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]

    def row(name: str, items: int, unit: str, seconds: float, limit: float | None = None) -> None:
        rate = items / seconds
        share = f"{rate / limit:.2f}" if limit else "–"
        lines.append(f"| {name} | {items} {unit} | {seconds:.2f} | {rate:.1f} | "
                     f"{f'{limit:.1f}' if limit else '–'} | {share} |")

    row("decode only, full size (one core)", photos, "photos", med(r.decode_full))
    row(f"decode only, draft mode to {shrink_side(s.image_size, 0.5, True)} px (one core)", photos, "photos",
        med(r.decode_shrunk))
    row("predict input pipeline on points: decode once, cut, eval transform (one core)", n, "patches",
        med(r.input_points))
    row("encoder forward on pre-made tensors", n, "patches", med(r.encoder_forward))
    row("training step on pre-made tensors", n, "patches", med(r.train_step))
    row(f"train, image cache build: {r.photos_decoded} of {photos} photos decoded once", n, "patches",
        r.cache_build)
    row("train, image cache, first epoch (build included)", n, "patches", r.cached_epochs[0], step_limit)
    row(f"train, image cache, epochs 2-{s.epochs} (median)", n, "patches", med(r.cached_epochs[1:]), step_limit)
    row(f"train, pre-cut patch PNGs, epochs 2-{s.epochs} (median)", n, "patches", med(r.precut_epochs[1:]),
        step_limit)
    if s.uncached_steps:
        row(f"train, no cache: each patch decodes its photo ({s.uncached_steps} steps)", r.uncached_items, "patches",
            r.uncached_seconds, step_limit)
    row("predict on points, end to end", n, "rows", med(r.predict_points), n / r.bound_points)
    row("predict on whole photos, end to end", photos, "rows", med(r.predict_whole), photos / r.bound_whole)
    ratio = r.later_epoch_ratio
    lines += [
        "",
        f"- later epochs, image cache / pre-cut patches: {ratio:.2f}x ({'meets' if ratio <= 1.25 else 'MISSES'} "
        "the <= 1.25x target)",
        f"- photos decoded to build the cache: {r.photos_decoded} for {photos} photos"
        f" ({'each once' if r.photos_decoded == photos else 'NOT once each'})",
        f"- training loss per epoch, image cache vs pre-cut patches: {'identical' if r.losses_equal else 'DIFFERENT'}",
        f"- predict on points / its bound (max(encoder {med(r.encoder_forward):.2f} s, (input "
        f"{med(r.input_points):.2f} s + {r.threads} x encoder) / {r.cores} cores) = {r.bound_points:.2f} s): "
        f"{r.bound_points / med(r.predict_points):.2f} "
        f"({'meets' if r.bound_points / med(r.predict_points) >= 0.9 else 'MISSES'} the >= 0.9 target)",
        f"- predict on whole photos / its bound ({r.bound_whole:.2f} s): {r.bound_whole / med(r.predict_whole):.2f}",
    ]
    cpu = {name: med(values) for name, values in r.core_seconds.items()}
    if {"cached_epochs", "precut_epochs"} <= cpu.keys() and len(r.core_seconds["cached_epochs"]) > 1:
        cached, precut = med(r.core_seconds["cached_epochs"][1:]), med(r.core_seconds["precut_epochs"][1:])
        lines.append(f"- later epochs in CPU seconds (all processes), image cache / pre-cut patches: {cached:.2f} / "
                     f"{precut:.2f} = {cached / precut:.2f}x; first epoch with the build: "
                     f"{r.core_seconds['cached_epochs'][0]:.2f}")
    if {"input_points", "encoder_forward", "predict_points"} <= cpu.keys():
        work = cpu["input_points"] + cpu["encoder_forward"]
        lines.append(f"- predict on points, CPU seconds (all processes): {cpu['predict_points']:.2f} for "
                     f"{work:.2f} of input + encoder work: {work / cpu['predict_points']:.2f} of the time is that work "
                     "(a busy machine stretches wall time, not this)")
    return "\n".join(lines)
