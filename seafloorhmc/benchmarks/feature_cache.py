"""A sweep of runs with a frozen encoder: features from the cache vs re-encoding every batch.

Both sweeps train the same configurations (``runs`` seeds, cycling through focal uncertainty
modes, like a sweep's cells) on one image dataset with a frozen "pretrained" encoder (a weights
file, so every seed shares it) and no augmentation; one sweep with ``data.feature_cache`` set,
the other with ``data.feature_cache=off``. Times are end to end (data preparation, model build,
training, validation, test, run folder), so the speed-up is what a user of ``seafloorhmc sweep``
sees. Encoder work is counted independently of the cache's own bookkeeping: a forward hook on the
encoder class counts every image that passes through an encoder.
"""

from __future__ import annotations

import contextlib
import csv
import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["UNCERTAINTY_CYCLE", "SweepResult", "count_encoder_images", "sweep_overrides", "run_sweep", "compare",
           "markdown_table"]

UNCERTAINTY_CYCLE = ("none", "bma", "predictive", "gmu")


@dataclass
class SweepResult:
    """Cost and results of one sweep.

    Attributes:
        mode: ``"cache"`` or ``"re-encode"``.
        runs: Number of runs.
        seconds: End-to-end seconds of the sweep.
        encoder_images: Images that passed through an encoder.
        dataset_images: Images in the dataset.
        au_prc: Test AU(PRC) of each run.
        epoch_seconds: Seconds in the training + validation loops only (log.csv), summed over runs.
    """

    mode: str
    runs: int
    seconds: float
    encoder_images: int
    dataset_images: int
    au_prc: list[float]
    epoch_seconds: float = 0.0  # training + validation loops only (log.csv), summed over runs


def _weights_file(encoder: str, path: Path) -> Path:
    """A stand-in for downloaded pretrained weights (a fixed random init), so runs share one encoder."""
    from safetensors.torch import save_file

    from ..models.encoders import build_encoder

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(12345)
        module = build_encoder(encoder).module
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return path


@contextlib.contextmanager
def count_encoder_images(encoder: str):
    """Count the images every module of the ``encoder`` class sees, independently of the cache's bookkeeping.

    Args:
        encoder: A timm model name.

    Yields:
        A one-element list holding the number of images seen so far.
    """
    import timm

    cls = type(timm.create_model(encoder, pretrained=False, num_classes=0))
    seen = [0]

    def hook(module, args, output):
        if type(module) is cls and args and torch.is_tensor(args[0]) and args[0].dim() == 4:
            seen[0] += int(args[0].shape[0])

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def sweep_overrides(manifest: Path, weights: Path, encoder: str, size: int, epochs: int, batch: int) -> list[str]:
    """The config settings both sweeps share: a frozen encoder from a weights file, no augmentation.

    Args:
        manifest: The image dataset's manifest.
        weights: The encoder weights file.
        encoder: timm model name.
        size: Input size in pixels.
        epochs: Epochs per run.
        batch: Batch size.

    Returns:
        ``key=value`` overrides.
    """
    return ["data.format=manifest", f"data.annotations={manifest}", f"data.image_size={size}",
            "data.normalisation=imagenet", "data.augment=false", f"model.encoder={encoder}", "model.pretrained=true",
            f"model.weights={weights}", "model.freeze=true", "model.members=8", "model.hidden=64",
            "loss.node_weights=class-wise", f"train.epochs={epochs}", f"train.batch_size={batch}",
            "train.progress=false", "train.device=cpu"]


def run_sweep(work: Path, base: list[str], runs: int, cache: bool, encoder: str, images: int) -> SweepResult:
    """Train ``runs`` runs (seeds, cycling the focal uncertainty mode) with or without the feature cache.

    Args:
        work: Folder of the runs (and the cache).
        base: The shared overrides (:func:`sweep_overrides`).
        runs: Number of runs.
        cache: Use the feature cache.
        encoder: timm model name (to count encoder images).
        images: Images in the dataset.

    Returns:
        The sweep's cost and results.
    """
    from ..config import load_config
    from ..training import train

    mode = "cache" if cache else "re-encode"
    cache_setting = f"data.feature_cache={work / 'features'}" if cache else "data.feature_cache=off"
    scores, epoch_seconds = [], 0.0
    with count_encoder_images(encoder) as seen, contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        for run in range(runs):
            config = load_config(None, [*base, cache_setting, f"seed={run}",
                                        f"loss.uncertainty={UNCERTAINTY_CYCLE[run % len(UNCERTAINTY_CYCLE)]}"])
            metrics = train(config, work / mode / f"run-{run:02d}")
            assert metrics is not None  # a single process always gets the metrics back
            scores.append(float(metrics["au_prc"]))
            with open(work / mode / f"run-{run:02d}" / "log.csv", newline="") as handle:
                epoch_seconds += sum(float(row["seconds"]) for row in csv.DictReader(handle))
        seconds = time.perf_counter() - start
    return SweepResult(mode, runs, seconds, seen[0], images, scores, epoch_seconds)


def compare(runs: int = 20, images: int = 120, size: int = 96, encoder: str = "resnet18", epochs: int = 3,
            batch: int = 16, work: str | Path | None = None) -> tuple[SweepResult, SweepResult]:
    """Run the sweep with and without the feature cache over one freshly written dataset.

    Args:
        runs: Runs per sweep.
        images: Images in the dataset.
        size: Input size in pixels (the images are twice as large).
        encoder: timm model name.
        epochs: Epochs per run.
        batch: Batch size.
        work: Folder to keep (a temporary folder when None).

    Returns:
        (cached sweep, re-encoding sweep).
    """
    from ..testing import write_tiny_image_manifest

    with contextlib.ExitStack() as stack:
        folder = Path(work) if work else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fc-bench-")))
        manifest = write_tiny_image_manifest(folder / "data", n_images=images, size=2 * size)
        weights = _weights_file(encoder, folder / "encoder.safetensors")
        base = sweep_overrides(manifest, weights, encoder, size, epochs, batch)
        cached = run_sweep(folder, base, runs, cache=True, encoder=encoder, images=images)
        recomputed = run_sweep(folder, base, runs, cache=False, encoder=encoder, images=images)
    return cached, recomputed


def markdown_table(cached: SweepResult, recomputed: SweepResult) -> str:
    """The comparison as recorded in ``docs/benchmarks.md``.

    Args:
        cached: The cached sweep.
        recomputed: The re-encoding sweep.

    Returns:
        A Markdown table and the largest AU(PRC) difference between twin runs.
    """
    lines = ["| sweep | runs | seconds, end to end | speed-up | seconds in epoch loops | speed-up | "
             "images through the encoder | per dataset image |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in (recomputed, cached):
        lines.append(f"| {r.mode} | {r.runs} | {r.seconds:.1f} | {recomputed.seconds / r.seconds:.1f}× | "
                     f"{r.epoch_seconds:.1f} | {recomputed.epoch_seconds / max(r.epoch_seconds, 1e-9):.1f}× | "
                     f"{r.encoder_images} | {r.encoder_images / r.dataset_images:.2f} |")
    gap = max(abs(a - b) for a, b in zip(cached.au_prc, recomputed.au_prc))
    lines.append(f"\nLargest test AU(PRC) difference between a cached run and its re-encoding twin: {gap:.2e}")
    return "\n".join(lines)
