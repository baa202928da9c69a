"""``predict`` end to end against the bare encoder's forward throughput, on synthetic seafloor images.

The claim (issue 4): predicting a folder of images runs within 20 % of the rate at which the
encoder alone turns pre-made tensors of the same batch and input size into features, i.e. decoding
(in worker processes), the head, the uncertainty, the suggestions and the CSV writing add little
on top of the network. Weights are random (speed does not depend on them): the checkpoint is
written with :func:`~seafloorhmc.models.persistence.save_weights` from a freshly built model.

``predict`` is timed whole: loading the checkpoint, listing the folder, starting the workers,
every batch, writing and moving the CSV into place. The two measurements alternate round by
round, so a busy machine slows both alike; the medians are reported.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import load_config
from ..data.synthetic import generate_synthetic_dataset
from ..data.transforms import eval_transform_for
from ..models import build_model
from ..models.persistence import load_trained_model, save_weights
from ..prediction.inputs import PredictionDataset, collect_items
from ..prediction.predictor import PredictOptions, default_workers, write_predictions
from ..taxonomy import Taxonomy

log = logging.getLogger(__name__)

__all__ = ["PredictBenchResult", "build_random_checkpoint", "encoder_seconds", "run_predict_bench", "format_result"]


@dataclass
class PredictBenchResult:
    """The timings of the predict benchmark (one entry per round in the lists).

    Attributes:
        images: Images predicted per round.
        encoder: timm model name.
        image_size: Input size in pixels.
        batch_size: Batch size.
        workers: Decoding worker processes.
        members: Members of the model.
        predict_seconds: End-to-end ``write_predictions`` seconds (folder → CSV).
        encoder_seconds: Encoder-only seconds on pre-made tensors.
        input_seconds: Decode + eval transform seconds in this process.
        rows: Rows the last predict wrote.
    """

    images: int
    encoder: str
    image_size: int
    batch_size: int
    workers: int
    members: int
    predict_seconds: list[float] = field(default_factory=list)
    encoder_seconds: list[float] = field(default_factory=list)
    input_seconds: list[float] = field(default_factory=list)
    rows: int = 0

    @property
    def predict_rate(self) -> float:
        """Images/s of predict end to end (median round)."""
        return self.images / statistics.median(self.predict_seconds)

    @property
    def encoder_rate(self) -> float:
        """Images/s of the encoder alone (median round)."""
        return self.images / statistics.median(self.encoder_seconds)

    @property
    def ratio(self) -> float:
        """Predict's throughput as a share of the encoder's (the target is ≥ 0.8)."""
        return self.predict_rate / self.encoder_rate

    @property
    def input_rate(self) -> float:
        """Images/s of decoding + the eval transform in this process (one core)."""
        return self.images / statistics.median(self.input_seconds)

    @property
    def cpu_bound_ratio(self) -> float:
        """The best ratio the CPU work allows when the encoder keeps every core busy.

        Encoder and input pipeline share the cores, so predict's time is at least their summed
        core-time / cores.
        """
        cores = max(1, torch.get_num_threads())
        return (1 / self.encoder_rate) / (1 / self.encoder_rate + 1 / (cores * self.input_rate))


def build_random_checkpoint(path: Path, taxonomy: Taxonomy, encoder: str = "resnet10t", image_size: int = 64,
                            members: int = 8, hidden: int = 256, batch_size: int = 32, seed: int = 0) -> Path:
    """A checkpoint of an untrained model (the architecture and config are what matter for speed).

    Args:
        path: The ``.safetensors`` file to write.
        taxonomy: The label hierarchy.
        encoder: timm model name.
        image_size: Input size in pixels.
        members: Ensemble members.
        hidden: Head width.
        batch_size: ``train.batch_size`` stored in the config.
        seed: Seed of the random weights.

    Returns:
        ``path``.
    """
    config = load_config(None, [f"model.encoder={encoder}", f"model.members={members}", f"model.hidden={hidden}",
                                f"data.image_size={image_size}", "data.normalisation=imagenet",
                                f"train.batch_size={batch_size}", f"seed={seed}"])
    model, _ = build_model(config.model, taxonomy, seed=seed)
    return save_weights(model.eval(), path, config, taxonomy, epoch=0)


@torch.inference_mode()
def encoder_seconds(encoder: torch.nn.Module, images: int, batch_size: int, image_size: int) -> float:
    """Seconds for the encoder's forward over ``images`` pre-made inputs: the ceiling predict is measured against.

    Args:
        encoder: The encoder module.
        images: Number of inputs.
        batch_size: Batch size.
        image_size: Input size in pixels.

    Returns:
        Seconds, after one untimed warm-up batch.
    """
    inputs = torch.randn(batch_size, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    sizes = [batch_size] * (images // batch_size) + ([images % batch_size] if images % batch_size else [])
    encoder.eval()
    with torch.inference_mode():  # as predict runs it
        encoder(inputs)  # warm-up: first-call allocations
        start = time.perf_counter()
        for b in sizes:
            encoder(inputs[:b])
        return time.perf_counter() - start


def input_seconds(folder: Path, config) -> float:
    """Seconds to decode every image of ``folder`` and apply predict's eval transform, in this process."""
    items = collect_items(folder, "auto", None, None, None, " > ", "")
    dataset = PredictionDataset(items, eval_transform_for(config),
                                config.data.patch_size, config.data.max_image_pixels, config.data.allow_truncated)
    start = time.perf_counter()
    for index in range(len(dataset)):
        dataset[index]
    return time.perf_counter() - start


def run_predict_bench(data_dir: str | Path, images: int = 2000, size: int = 128, encoder: str = "resnet10t",
                      image_size: int = 64, batch_size: int = 32, workers: int | None = None, members: int = 8,
                      rounds: int = 1) -> PredictBenchResult:
    """Generate (or reuse) the synthetic images, then alternate encoder-only and predict timings.

    Args:
        data_dir: Folder of the synthetic dataset (generated if missing).
        images: Number of images.
        size: Side of the synthetic images.
        encoder: timm model name.
        image_size: Input size in pixels.
        batch_size: Batch size.
        workers: Decoding workers (predict's default when None).
        members: Ensemble members.
        rounds: Timing rounds.

    Returns:
        The timings.

    Raises:
        RuntimeError: If predict wrote a different number of rows than there are images.
    """
    workers = default_workers() if workers is None else workers
    manifest = generate_synthetic_dataset(data_dir, n_images=images, size=size, progress=True)
    taxonomy = Taxonomy.from_csv(manifest.parent / "labels.csv")
    result = PredictBenchResult(images, encoder, image_size, batch_size, workers, members)
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        checkpoint = build_random_checkpoint(Path(tmp) / "model.safetensors", taxonomy, encoder, image_size,
                                             members, batch_size=batch_size)
        model, info = load_trained_model(checkpoint)
        options = PredictOptions(batch_size=batch_size, workers=workers, progress=False)
        for r in range(rounds):
            result.encoder_seconds.append(encoder_seconds(model.encoder, images, batch_size, image_size))
            result.input_seconds.append(input_seconds(manifest.parent / "images", info.config))
            start = time.perf_counter()
            summary = write_predictions(checkpoint, manifest.parent / "images", Path(tmp) / "predictions.csv", options,
                              overwrite=True)
            result.predict_seconds.append(time.perf_counter() - start)
            result.rows = summary.rows
            log.info("round %d/%d: encoder %.1f img/s, predict %.1f img/s", r + 1, rounds,
                     images / result.encoder_seconds[-1], images / result.predict_seconds[-1])
    if result.rows != images:
        raise RuntimeError(f"predict wrote {result.rows} rows for {images} images")
    return result


def format_result(result: PredictBenchResult) -> str:
    """The timings as a short text report.

    Args:
        result: The output of :func:`run_predict_bench`.

    Returns:
        Lines of text: rates, their ratio and the best ratio the CPU allows.
    """
    ok = "meets" if result.ratio >= 0.8 else "MISSES"
    return "\n".join([
        f"{result.images} synthetic images, encoder {result.encoder} at {result.image_size} px, batch "
        f"{result.batch_size}, {result.members} members, {result.workers} decoding worker(s), "
        f"{len(result.predict_seconds)} round(s), medians:",
        f"  encoder forward (pre-made tensors): {result.encoder_rate:8.1f} images/s",
        f"  predict end to end (folder → CSV):  {result.predict_rate:8.1f} images/s",
        f"  ratio predict / encoder:            {result.ratio:8.3f}  ({ok} the ≥ 0.8 target)",
        f"  decode + eval transform, one core:  {result.input_rate:8.1f} images/s",
        f"  best ratio the CPU work allows:     {result.cpu_bound_ratio:8.3f}  (encoder on all "
        f"{torch.get_num_threads()} threads, inputs sharing the same cores)",
    ])
