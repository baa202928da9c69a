"""Training throughput on a GPU: full training steps against the bare encoder, and the data pipeline.

Rows (images per second, batch ``batch`` of ``size`` px inputs, random tensors already on the
device so only the model is timed):

* ``bare encoder fwd+bwd``: the timm encoder alone, ``features.float().sum().backward()``; the
  floor any classifier built on it pays;
* ``bare encoder step``: the same plus a fused AdamW step on its weights;
* ``full step``: what :class:`~seafloorhmc.training.trainer.Trainer` does per batch: encoder →
  M-member head (batched ensemble, or MC-dropout samples) → rare-node loss (class-wise weights ×
  BMA focal factor) → backward → fused AdamW step, for each (members, member type).

On CUDA every row runs as the trainer runs it: bf16 autocast, channels-last, optionally
``torch.compile``. Each row gets ``warmup`` untimed steps (compilation, cuDNN autotuning), then
``steps`` timed steps between two device synchronisations.

The data pipeline row decodes JPEGs (``source`` px, like survey frames larger than the input) and
applies the training augmentation through :class:`~seafloorhmc.data.loaders.EpochLoader` with
``workers`` processes and pinned memory on CUDA, no model: if it delivers more images/s than a
full step consumes, data loading is not the bottleneck.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from ..config import ModelConfig, TrainConfig
from ..data.synthetic.hierarchy import synthetic_taxonomy
from ..losses import RareNodeLoss, node_weights
from ..models import build_model
from ..testing.reference import random_targets
from ..training.optim import build_optimizer

__all__ = ["StepRow", "DataRow", "bench_steps", "bench_data", "steps_table", "data_table"]

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


@dataclass
class StepRow:
    """One timed step.

    Attributes:
        name: What was timed.
        images_per_s: Throughput.
        ms_per_step: Milliseconds per step.
        peak_mib: Peak CUDA memory (None on CPU).
    """

    name: str
    images_per_s: float
    ms_per_step: float
    peak_mib: float | None = None


@dataclass
class DataRow:
    """The data pipeline's throughput.

    Attributes:
        workers: Loader processes.
        images: Images per epoch.
        images_per_s: Throughput of the timed epochs.
        source: Side of the source JPEGs in pixels.
    """

    workers: int
    images: int
    images_per_s: float
    source: int


class _Device:
    """The trainer's CUDA settings (bf16 autocast, channels-last) and honest timing."""

    def __init__(self, device: str, amp: bool | None, channels_last: bool | None) -> None:
        self.device = torch.device(device)
        cuda = self.device.type == "cuda"
        if cuda and not torch.cuda.is_available():
            raise RuntimeError(f"--device {device}: CUDA is not available on this machine")
        self.amp = cuda if amp is None else amp
        self.channels_last = cuda if channels_last is None else channels_last

    def autocast(self):
        if self.amp:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def prepare(self, module: ModuleT) -> ModuleT:
        module = module.to(self.device).train()
        return module.to(memory_format=torch.channels_last) if self.channels_last else module

    def inputs(self, batch: int, size: int) -> torch.Tensor:
        x = torch.randn(batch, 3, size, size, device=self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def time(self, step, steps: int, warmup: int) -> tuple[float, float | None]:
        """(seconds per step, peak MiB on CUDA)."""
        cuda = self.device.type == "cuda"
        for _ in range(warmup):
            step()
        self.sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        self.sync()
        seconds = (time.perf_counter() - start) / steps
        return seconds, (torch.cuda.max_memory_allocated(self.device) / 2**20 if cuda else None)


def bench_steps(encoder: str = "resnet50", size: int = 224, batch: int = 64, members=(1, 20),
                member_types=("ensemble", "mc_dropout"), hidden: int | None = None, device: str = "cuda",
                steps: int = 20, warmup: int = 5, amp: bool | None = None, channels_last: bool | None = None,
                compile: bool = False) -> list[StepRow]:
    """Bare-encoder rows, then one full-step row per (member type, members).

    Args:
        encoder: timm model name.
        size: Input size in pixels.
        batch: Batch size.
        members: Member counts to measure.
        member_types: ``"ensemble"`` and/or ``"mc_dropout"``.
        hidden: Head width (the encoder's feature width when None).
        device: Torch device.
        steps: Timed steps per row.
        warmup: Untimed steps first (compilation, cuDNN autotuning).
        amp: bf16 autocast (on CUDA by default).
        channels_last: Channels-last memory (on CUDA by default).
        compile: Wrap the models in ``torch.compile``.

    Returns:
        The rows, bare encoder first.
    """
    dev = _Device(device, amp, channels_last)
    torch.manual_seed(0)
    tax = synthetic_taxonomy()
    targets = random_targets(tax, batch, seed=1).to(dev.device)
    weights = node_weights(random_targets(tax, 8 * batch, seed=2), tax)
    x = dev.inputs(batch, size)
    rows = []

    def measure(name: str, step) -> None:
        seconds, peak = dev.time(step, steps, warmup)
        rows.append(StepRow(name, batch / seconds, seconds * 1e3, peak))

    # in a function of its own, so the bare encoder and its optimiser are freed before the full models
    _measure_bare_encoder(dev, encoder, tax, x, compile, measure)
    for member_type in member_types:
        for m in members:
            cfg = ModelConfig(encoder=encoder, members=m, member_type=member_type, hidden=hidden, dropout=0.7)
            model, _ = build_model(cfg, tax)
            model = dev.prepare(model)
            forward = torch.compile(model) if compile else model
            loss_fn = RareNodeLoss(tax, weights, uncertainty="bma").to(dev.device)
            optimizer = build_optimizer(model, TrainConfig(optimizer="adamw", lr=1e-4))

            def full_step(forward=forward, loss_fn=loss_fn, optimizer=optimizer):
                with dev.autocast():
                    logits = forward(x)
                loss = loss_fn(logits.float(), targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

            measure(f"full step, {m} {member_type.replace('_', '-')}", full_step)
            del model, forward, optimizer
            if dev.device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


def _measure_bare_encoder(dev: _Device, encoder: str, tax, x: torch.Tensor, compile: bool,
                          measure: Callable[[str, Callable[[], None]], None]) -> None:
    """The bare-encoder rows: forward + backward, then with a fused AdamW step."""
    model, _ = build_model(ModelConfig(encoder=encoder, members=1), tax)
    bare = dev.prepare(model.encoder)
    bare_forward = torch.compile(bare) if compile else bare
    fused: dict[str, Any] = {"fused": True} if dev.device.type == "cuda" else {}
    opt = torch.optim.AdamW(bare.parameters(), lr=1e-4, **fused)

    def bare_fwd_bwd():
        bare.zero_grad(set_to_none=True)
        with dev.autocast():
            features = bare_forward(x)
        features.float().sum().backward()

    def bare_step():
        bare_fwd_bwd()
        opt.step()

    measure("bare encoder fwd+bwd", bare_fwd_bwd)
    measure("bare encoder step", bare_step)


def _write_jpegs(folder: Path, count: int, side: int, seed: int = 0) -> list[str]:
    """Smooth random colour fields saved as JPEG (quality 90): decode cost like survey photos."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        coarse = rng.integers(0, 256, (max(2, side // 16), max(2, side // 16), 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((side, side), Image.Resampling.BILINEAR)
        path = folder / f"{i:05d}.jpg"
        image.save(path, quality=90)
        paths.append(str(path))
    return paths


def bench_data(size: int = 224, batch: int = 64, workers: int = 8, images: int = 1024, source: int | None = None,
               device: str = "cuda", epochs: int = 2) -> DataRow:
    """Images/s of decode + training augmentation (+ host→device copy) through the training loader.

    The first epoch warms the file cache and is not timed.

    Args:
        size: Input size in pixels.
        batch: Batch size.
        workers: Loader processes.
        images: JPEGs written (to a temporary folder).
        source: Side of the JPEGs (twice ``size`` when None).
        device: Where batches are copied (pinned memory on CUDA).
        epochs: Epochs, at least 2 (all but the first are timed).

    Returns:
        The throughput row.
    """
    from ..data.dataset import HierarchicalImageDataset, collate_skipping_bad
    from ..data.loaders import EpochLoader
    from ..data.records import Sample
    from ..data.transforms import train_transform
    from ..taxonomy import Taxonomy

    dev = torch.device(device)
    source = source or 2 * size
    with tempfile.TemporaryDirectory(prefix="seafloorhmc-bench-") as tmp:
        paths = _write_jpegs(Path(tmp), images, source)
        taxonomy = Taxonomy.from_paths(["Biota/Echinoderms"])
        samples = [Sample(image=p, labels=("Biota/Echinoderms",), complete=(True,)) for p in paths]
        dataset = HierarchicalImageDataset(samples, taxonomy, transform=train_transform(size), patch_size=size)
        loader = EpochLoader(dataset, batch, shuffle=True, seed=0, workers=workers, collate_fn=collate_skipping_bad,
                             pin_memory=dev.type == "cuda")
        seen, seconds = 0, 0.0
        for epoch in range(max(2, epochs)):
            loader.set_epoch(epoch)
            start = time.perf_counter()
            count = 0
            for item in loader:
                item["image"].to(dev, non_blocking=True)
                count += item["image"].shape[0]
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if epoch > 0:
                seen += count
                seconds += time.perf_counter() - start
    return DataRow(workers=workers, images=images, images_per_s=seen / seconds, source=source)


def steps_table(rows: list[StepRow]) -> str:
    """Markdown: images/s, ms/step, peak memory and the ratio to the bare encoder's fwd+bwd.

    Args:
        rows: The output of :func:`bench_steps` (bare encoder first).

    Returns:
        The Markdown table.
    """
    base = rows[0].images_per_s
    lines = ["| step | images/s | ms/step | × bare fwd+bwd time | peak MiB |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        peak = "–" if r.peak_mib is None else f"{r.peak_mib:.0f}"
        lines.append(f"| {r.name} | {r.images_per_s:.1f} | {r.ms_per_step:.1f} | {base / r.images_per_s:.2f} "
                     f"| {peak} |")
    return "\n".join(lines)


def data_table(row: DataRow, full_step_images_per_s: float | None = None) -> str:
    """Markdown: the data pipeline's images/s, and whether it keeps up with the slowest full step.

    Args:
        row: The output of :func:`bench_data`.
        full_step_images_per_s: Throughput of the slowest full step, if measured.

    Returns:
        The Markdown table.
    """
    lines = ["| data pipeline | workers | source px | images/s | vs slowest full step |",
             "| --- | ---: | ---: | ---: | ---: |"]
    ratio = "–" if not full_step_images_per_s else f"{row.images_per_s / full_step_images_per_s:.2f}×"
    lines.append(f"| decode JPEG + train augmentation | {row.workers} | {row.source} | {row.images_per_s:.1f} "
                 f"| {ratio} |")
    return "\n".join(lines)
