"""``seafloorhmc predict``: a trained model over a folder, a CSV of images or points, or an export.

The model, its input size, normalisation, patch size, thresholds and uncertainty mode all come
from the checkpoint's stored config (each can be overridden). Images are decoded in DataLoader
workers while the main process runs the model, so decoding overlaps compute. Rows are formatted a
batch at a time and streamed to a temporary file next to ``out``, which replaces ``out`` only when
every row is written: an interrupted run leaves no file that looks finished, and an existing
result is never replaced without ``overwrite``. Memory stays bounded: per row only its byte offset
and uncertainty are kept (for the review queue), never its probabilities. The decoded images held at
once are one batch in the main process plus at most ``workers × 4`` prefetched batches.

Heads that decide node sets themselves (``Prediction.predicted``, per-level heads) are followed
instead of the threshold, decoded as the checkpoint's ``eval.decoding`` says (as in evaluation).
Ensemble heads predict with all members; MC-dropout heads keep sampling the head at inference
(the encoder stays in eval mode), seeded with ``seed`` so a rerun gives the same file.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data.image_cache import decode_device, shrink_side
from ..data.transforms import normalisation_for
from ..models.persistence import load_trained_model, read_info
from ..runtime import Runtime
from ..uncertainty import ALIASES, MODES, node_uncertainty
from ..utils.atomic import atomic_path
from .inputs import InputOrder, PredictionDataset, collate_predictions, collect_items, gpu_batches, rebatch
from .suggestions import confidence_percent, deepest_predicted, row_uncertainty, top_k_suggestions
from .table import PredictionTable, RowFile

__all__ = ["PredictOptions", "PredictSummary", "predict", "write_predictions", "default_review_path", "default_workers"]

PREFETCH_BATCHES = 4  # batches each decoding worker keeps ready: enough to hide decoding jitter, bounded memory


def default_workers() -> int:
    """Decoding processes: half the cores this process may use (the model's threads get the rest), 1-8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return max(1, min(8, cores // 2))


def default_review_path(out: str | Path) -> Path:
    """``predictions.csv`` → ``predictions.review.csv``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.review{out.suffix or '.csv'}")


@dataclass
class PredictOptions:
    """How to read the input and what to report; None means "as the checkpoint's config says"."""

    format: str = "auto"
    root: str | None = None
    label_map: str | None = None
    label_tree: str | None = None
    separator: str = " > "
    image_suffix: str = ""
    threshold: float | None = None
    review_threshold: float | None = None
    uncertainty: str | None = None
    top_k: int = 5
    wide: bool = False
    min_probability: float = 0.01
    batch_size: int | None = None
    workers: int | None = None
    device: str = "auto"
    seed: int | None = None
    progress: bool = True
    gpu_decode: bool | None = None


@dataclass
class PredictSummary:
    out: Path
    review: Path | None
    rows: int
    errors: int
    needs_review: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


def _check_targets(source: Path, out: Path, review: Path | None, overwrite: bool) -> None:
    targets = [out] + ([review] if review is not None else [])
    if review is not None and review.resolve() == out.resolve():
        raise ValueError(f"the review queue {review} and the predictions {out} must be different files")
    for target in targets:
        if source.exists() and target.resolve() == source.resolve():
            raise ValueError(f"output {target} is the prediction input; choose another file")
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} already exists; choose another output or pass --overwrite to replace it")


def _validate(options: PredictOptions, threshold: float, review_threshold: float, mode: str) -> str:
    mode = ALIASES.get(mode, mode)
    if mode not in MODES:
        raise ValueError(f"unknown uncertainty {mode!r}; choose one of {', '.join(MODES)}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must lie in [0, 1), got {threshold}")
    if review_threshold < 0:
        raise ValueError(f"review threshold must be >= 0, got {review_threshold}")
    if options.top_k < 1:
        raise ValueError(f"top-k must be at least 1, got {options.top_k}")
    if options.batch_size is not None and options.batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {options.batch_size}")
    if options.workers is not None and options.workers < 0:
        raise ValueError(f"workers must be >= 0, got {options.workers}")
    return mode


def write_predictions(checkpoint: str | Path, source: str | Path, out: str | Path, options: PredictOptions | None = None,
                      review: str | Path | None = None, overwrite: bool = False) -> PredictSummary:
    """Write one CSV row per image or point of ``source`` to ``out`` (and the review queue to ``review``).

    Args:
        checkpoint: A run folder, checkpoint folder or ``model.safetensors``.
        source: A folder, a CSV of images or points, or an annotation export.
        out: The predictions CSV (written atomically).
        options: How to read the input and what to report (defaults: the checkpoint's config).
        review: Also write the review queue, most uncertain first, to this file.
        overwrite: Replace existing output files.

    Returns:
        What was written: rows, unreadable ones, rows flagged for review, time taken.

    Raises:
        FileExistsError: If an output exists and ``overwrite`` is not set.
        ValueError: For unusable options or an input the model cannot predict on.
    """
    options = options or PredictOptions()
    source, out = Path(source), Path(out)
    review = Path(review) if review is not None else None
    _check_targets(source, out, review, overwrite)
    start = time.perf_counter()
    info = read_info(checkpoint)
    if info.feature_dim is not None:
        raise ValueError(f"{info.path} was trained on feature vectors, not images: there is nothing to predict on")
    config = info.config
    runtime = Runtime.from_config(config, device=options.device)
    device = runtime.device
    model, _ = load_trained_model(info.path, device)
    model = runtime.prepare_model(model)
    threshold = config.eval.threshold if options.threshold is None else options.threshold
    review_threshold = config.eval.review_threshold if options.review_threshold is None else options.review_threshold
    mode = _validate(options, threshold, review_threshold,
                     options.uncertainty or config.eval.review_uncertainty)
    items = collect_items(source, options.format, options.root, options.label_map, options.label_tree,
                          options.separator, options.image_suffix)
    d = config.data
    dataset = PredictionDataset(items, runtime.eval_transform, d.patch_size, d.max_image_pixels, d.allow_truncated,
                                shrink_to=shrink_side(d.image_size, d.min_crop_scale, d.augment))  # as training does
    workers = default_workers() if options.workers is None else options.workers
    batch_size = options.batch_size or config.train.batch_size
    gpu = decode_device(d.gpu_decode if options.gpu_decode is None else options.gpu_decode, device)
    if gpu is not None:  # photos decoded on the GPU, a batch at a time
        loader = gpu_batches(dataset, batch_size, workers, gpu, d.image_size,
                             *normalisation_for(d.normalisation, config.model.encoder), prefetch=PREFETCH_BATCHES)
    else:
        loader = DataLoader(dataset, batch_sampler=dataset.photo_batches(batch_size),  # each photo decoded once
                            num_workers=workers, collate_fn=collate_predictions, pin_memory=device.type == "cuda",
                            prefetch_factor=PREFETCH_BATCHES if workers else None)
    in_order = InputOrder()
    table = PredictionTable(info.taxonomy, items, options.top_k, options.wide, options.min_probability)
    taxonomy = info.taxonomy
    errors = flagged = 0
    seed = config.seed if options.seed is None else options.seed
    bar = tqdm(total=len(items), unit="row", desc="predict", disable=None if options.progress else True)
    with atomic_path(out) as tmp_out, RowFile(tmp_out, table.header) as rows, bar, \
            torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.inference_mode():
        torch.manual_seed(seed)
        for batch in rebatch(loader, batch_size):  # full model batches from photo-aligned ones
            pending: dict[int, tuple[list[str], float]] = {}
            for index, message in batch["errors"]:
                pending[index] = (table.error_row(items[index], message), float("inf"))  # errors last in review
            errors += len(batch["errors"])
            if batch["image"] is not None:
                with runtime.autocast():
                    logits = model(runtime.batch(batch["image"]))
                prediction = model.predict_from_logits(logits, config.eval.decoding)
                probs, decided = prediction.probs, getattr(prediction, "predicted", None)
                uncertainty = row_uncertainty(probs, node_uncertainty(prediction.member_probs, mode), taxonomy,
                                              threshold, decided)
                nodes, scores = top_k_suggestions(probs, taxonomy, options.top_k)
                needs = uncertainty > review_threshold
                flagged += int(needs.sum())
                indices = batch["index"].tolist()
                uncertainty = uncertainty.cpu()
                formatted = table.rows([items[i] for i in indices], probs.cpu().numpy(),
                                       deepest_predicted(probs, taxonomy, threshold, decided).cpu().numpy(),
                                       uncertainty.numpy(), needs.cpu().numpy(), nodes.cpu().numpy(),
                                       confidence_percent(scores).cpu().numpy())
                for index, row, u in zip(indices, formatted, uncertainty.tolist()):
                    pending[index] = (row, -u)
            due = in_order.add(pending)  # rows in input order, whatever order the photos came in
            rows.write([row for row, _ in due], [key for _, key in due])
            bar.update(len(pending))
        if review is not None:
            with atomic_path(review) as tmp_review:
                rows.write_sorted(tmp_review)
        written = len(rows)
    return PredictSummary(out, review, written, errors, flagged, time.perf_counter() - start)


def predict(checkpoint: str | Path, source: str | Path, out: str | Path | None = None, *,
            overwrite: bool = False, **options: object) -> list[dict[str, str]]:
    """Predictions for every image or point of ``source``, as rows (one dict per CSV row).

    Args:
        checkpoint: A run folder, checkpoint folder or ``model.safetensors``.
        source: A folder, a CSV of images or points, or an annotation export.
        out: Also keep the predictions CSV here (default: a temporary file, removed).
        overwrite: Replace ``out`` if it exists.
        **options: :class:`PredictOptions` fields (``format``, ``threshold``, ``top_k``, ...).

    Returns:
        The rows of the predictions CSV, in input order.
    """
    opts = PredictOptions(**{"progress": False, **options})  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(out) if out is not None else Path(tmp) / "predictions.csv"
        write_predictions(checkpoint, source, target, opts, overwrite=overwrite)
        with open(target, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
