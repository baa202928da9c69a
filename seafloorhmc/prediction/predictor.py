"""``seafloorhmc predict``: a trained model over a folder, a CSV of images or points, or an export.

The model, its input size, normalisation, patch size, thresholds and uncertainty mode all come
from the checkpoint's stored config (each can be overridden). Images are decoded in DataLoader
workers while the main process runs the model, so decoding overlaps compute; the workers run at a
lower priority, take a few photos at a time (the model starts on the first one) and the rows are
formatted in one more process (:mod:`.row_writer`), so the model's thread does little but run the
model (docs/benchmarks.md: predict on points at 0.91-0.93 of the encoder's own speed). Rows are
streamed to a temporary file next to ``out``, which replaces ``out`` only when every row is
written: an interrupted run leaves no file that looks finished, and an existing result is never
replaced without ``overwrite``. Memory stays bounded: per row only its byte offset
and uncertainty are kept (for the review queue), never its probabilities. The decoded images held at
once are one batch in the main process plus at most ``workers × 4`` prefetched batches.

Heads that decide node sets themselves (``Prediction.predicted``, per-level heads) are followed
instead of the threshold, decoded as the checkpoint's ``eval.decoding`` says (as in evaluation).
Ensemble heads predict with all members; MC-dropout heads keep sampling the head at inference
(the encoder stays in eval mode), seeded with ``seed`` so a rerun gives the same file.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..config import Config
from ..data.image_cache import decode_device, shrink_side
from ..data.patches import patch_size_warning
from ..data.readers import FORMATS
from ..data.transforms import normalisation_for
from ..models.model import HierarchicalClassifier, Prediction
from ..models.persistence import CheckpointInfo, load_trained_model, read_info
from ..runtime import Runtime
from ..uncertainty import ALIASES, MODES, node_uncertainty
from ..utils.atomic import atomic_path
from ..utils.priority import HELPER_NICENESS, lower_priority
from .exporting import ExportScorer, open_export
from .inputs import (
    PredictionDataset,
    PredictionItem,
    collate_predictions,
    collect_items,
    gpu_batches,
    rebatch,
)
from .options import PredictOptions, check_request, default_review_path
from .review import ReviewThreshold
from .row_writer import RowBatch, open_row_writer
from .suggestions import confidence_percent, deepest_predicted, path_max, row_uncertainty, top_k_suggestions
from .table import PredictionTable

__all__ = ["PredictOptions", "PredictSummary", "predict", "write_predictions", "default_review_path", "default_workers"]

log = logging.getLogger(__name__)

PREFETCH_BATCHES = 4  # batches each decoding worker keeps ready: enough to hide decoding jitter, bounded memory
PHOTO_BATCH = 8  # items per decoding batch (whole photos, so a photo with more points is one larger batch)


def _yield_to_the_model(worker_id: int) -> None:
    """Run a decoding worker at a lower priority: with more processes than cores, the model keeps its core.

    The workers have batches prefetched, so losing a time slice costs them nothing visible; the
    model losing one stalls everything.
    """
    lower_priority(HELPER_NICENESS)


def default_workers() -> int:
    """Decoding processes: one per core this process may use, 1-8.

    The workers run at a lower priority (:data:`~seafloorhmc.utils.priority.HELPER_NICENESS`), so
    they take the cores the model leaves idle and never its own: as fast as half the cores when the
    model is the bottleneck (points), 1.6x faster when decoding is (whole photos; docs/benchmarks.md).

    Returns:
        The number of worker processes.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return max(1, min(8, cores))


def _workers(options: PredictOptions) -> int:
    return default_workers() if options.workers is None else options.workers


@dataclass
class PredictSummary:
    """What a prediction run wrote and how it decided.

    Attributes:
        out: The predictions CSV or export.
        review: The review queue, if written.
        rows: Rows written.
        errors: Rows that could not be predicted (unreadable image, point outside it).
        needs_review: Rows flagged for review.
        seconds: Wall time.
        export: The export format, or None for the predictions CSV.
        notes: What a user should know about the rows (labels left empty and why).
        settings: (what, value) pairs: the model, uncertainty, thresholds and what the review
            threshold guarantees on validation.
    """

    out: Path
    review: Path | None
    rows: int
    errors: int
    needs_review: int
    seconds: float
    export: str | None = None
    notes: list[str] = field(default_factory=list)
    settings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        """Rows written per second of wall time."""
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class _Session:
    """A loaded model and the decisions every row shares."""

    info: CheckpointInfo
    config: Config
    runtime: Runtime
    threshold: float
    review_threshold: float
    mode: str
    review_text: str
    model: HierarchicalClassifier | None = None  # loaded once the decoding workers are running (_batches)

    def load_model(self) -> HierarchicalClassifier:
        """The model, loaded from the checkpoint on first use (the metadata read once, in :func:`_open`)."""
        if self.model is None:
            model, _ = load_trained_model(self.info.path, self.runtime.device, info=self.info)
            self.model = self.runtime.prepare_model(model)
        return self.model

    def settings(self) -> list[tuple[str, str]]:
        return [("model", str(self.info.path)), ("uncertainty", self.mode),
                ("threshold", f"a node is predicted when p > {self.threshold:g}"),
                ("review threshold", "every row needs review" if self.review_threshold < 0 else
                 f"a row needs review when its uncertainty > {self.review_threshold:.4g}"),
                ("review guarantee", self.review_text)]


def _review_threshold(info: CheckpointInfo, options: PredictOptions, threshold: float, mode: str) -> tuple[float, str]:
    """The review threshold to use and what it means: given by hand, calibrated at training, or configured."""
    if options.review_threshold is not None:
        return options.review_threshold, "set by hand (--review-threshold); not calibrated"
    review = info.review
    configured = info.config.eval.review_threshold
    if review is None or review.get("method") == "off":
        return configured, f"eval.review_threshold={configured:g} as configured; not calibrated on validation"
    calibrated = ReviewThreshold.from_dict(review)
    if calibrated.uncertainty != mode or threshold != info.config.eval.threshold:
        log.warning("the review threshold of %s was calibrated for %s uncertainty at threshold %g, not %s at %g: "
                    "using eval.review_threshold=%g, which guarantees nothing", info.path, calibrated.uncertainty,
                    info.config.eval.threshold, mode, threshold, configured)
        return configured, (f"eval.review_threshold={configured:g}; the calibrated one holds only for "
                            f"{calibrated.uncertainty} uncertainty at threshold {info.config.eval.threshold:g}")
    return calibrated.threshold, f"on validation: {calibrated.describe()}"


def _open(checkpoint: str | Path, options: PredictOptions) -> _Session:
    """Read a checkpoint's metadata and settle the thresholds and uncertainty mode (the weights load later)."""
    info = read_info(checkpoint)
    if info.feature_dim is not None:
        raise ValueError(f"{info.path} was trained on feature vectors, not images: there is nothing to predict on")
    config = info.config
    runtime = Runtime.from_config(config, device=options.device)
    threshold = config.eval.threshold if options.threshold is None else options.threshold
    mode = ALIASES.get(options.uncertainty or config.eval.review_uncertainty,
                       options.uncertainty or config.eval.review_uncertainty)
    if mode not in MODES:
        raise ValueError(f"unknown uncertainty {mode!r}; choose one of {', '.join(MODES)}")
    review_threshold, text = _review_threshold(info, options, threshold, mode)
    return _Session(info, config, runtime, threshold, review_threshold, mode, text)


def _warn_about_input(session: _Session, items: Sequence[PredictionItem], source: Path) -> None:
    """Say so when the input does not look like what the model was trained on (patches vs whole images)."""
    data = session.config.data
    trained_on = FORMATS.get(data.format).grouping(data.group_by)
    if trained_on == "annotation" and items and all(item.geometry is None for item in items):
        log.warning("%s was trained on %d-px patches around annotated points, but %s gives whole images: each image "
                    "is shrunk to %d px, far coarser than in training. Predict on the points instead (a CSV with "
                    "image,x,y or the annotation export, with --format), or train with data.group_by=image",
                    session.info.path, data.patch_size, source, data.image_size)
    points = [item.path for item in items if item.geometry is not None and item.geometry.kind in ("point", "circle")]
    if points and (warning := patch_size_warning(points, data.patch_size)):
        log.warning("%s (the model's patch size; retrain to change it)", warning)


@dataclass
class _Batch:
    """One batch's predictions: the items predicted, the ones that failed, and the shared row decisions."""

    indices: list[int]
    errors: list[tuple[int, str]]
    prediction: Prediction | None = None
    node_uncertainty: torch.Tensor | None = None
    uncertainty: torch.Tensor | None = None
    needs_review: torch.Tensor | None = None


def _batches(session: _Session, items: Sequence[PredictionItem], options: PredictOptions) -> Iterator[_Batch]:
    """Decode the items in worker processes and predict them a batch at a time.

    Each photo is decoded once for all its points (photo-aligned batches, regrouped into full model
    batches), so batches may finish out of input order: callers put rows back in order by index.
    The workers start before the model is built, so the first batches decode while it loads.
    """
    config, runtime = session.config, session.runtime
    d = config.data
    assert runtime.eval_transform is not None  # an image model: _open refused feature checkpoints
    dataset = PredictionDataset(items, runtime.eval_transform, d.patch_size, d.max_image_pixels, d.allow_truncated,
                                shrink_to=shrink_side(d.image_size, d.min_crop_scale, d.augment))  # as training does
    workers = _workers(options)
    batch_size = options.batch_size or config.train.batch_size
    device = runtime.device
    gpu = decode_device(d.gpu_decode if options.gpu_decode is None else options.gpu_decode, device)
    loader: Iterable[dict]
    if gpu is not None:  # photos decoded on the GPU, a batch at a time
        loader = gpu_batches(dataset, batch_size, workers, gpu, d.image_size,
                             *normalisation_for(d.normalisation, config.model.encoder), prefetch=PREFETCH_BATCHES,
                             worker_init=_yield_to_the_model)
    else:  # small decoding batches spread the photos evenly over the workers and start the model early
        loader = DataLoader(dataset, batch_sampler=dataset.photo_batches(min(batch_size, PHOTO_BATCH)),
                            num_workers=workers, collate_fn=collate_predictions, pin_memory=device.type == "cuda",
                            prefetch_factor=PREFETCH_BATCHES if workers else None,
                            worker_init_fn=_yield_to_the_model if workers else None)
    seed = config.seed if options.seed is None else options.seed
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if isinstance(loader, DataLoader):  # forks the workers (drawing their seed from ours, as ever): they decode
            loader = iter(loader)  # the first batches while the model loads
        with torch.random.fork_rng(devices=devices):  # building the model draws nothing from the seeded stream
            model = session.load_model()
        yield from _predict_batches(session, model, rebatch(loader, batch_size, start_now=True))


def _predict_batches(session: _Session, model: HierarchicalClassifier, batches: Iterable[dict]) -> Iterator[_Batch]:
    """The model's predictions and the row decisions of each decoded batch."""
    config, runtime = session.config, session.runtime
    with torch.inference_mode():
        for batch in batches:
            out = _Batch(batch["index"].tolist(), list(batch["errors"]))
            if batch["image"] is not None:
                with runtime.autocast():
                    logits = model(runtime.batch(batch["image"]))
                out.prediction = model.predict_from_logits(logits, config.eval.decoding)
                probs, decided = out.prediction.probs, out.prediction.predicted
                out.node_uncertainty = node_uncertainty(out.prediction.member_probs, session.mode)
                out.uncertainty = row_uncertainty(probs, out.node_uncertainty, model.taxonomy, session.threshold,
                                                  decided)
                out.needs_review = out.uncertainty > session.review_threshold
            yield out


def write_predictions(checkpoint: str | Path, source: str | Path, out: str | Path,
                      options: PredictOptions | None = None, review: str | Path | None = None,
                      overwrite: bool = False) -> PredictSummary:
    """Write one CSV row per image or point of ``source`` to ``out`` (and the review queue to ``review``).

    With ``options.export`` the annotation tool's import file is written instead
    (:mod:`seafloorhmc.prediction.exports`).

    Args:
        checkpoint: A run folder, checkpoint folder or ``model.safetensors``.
        source: A folder, a CSV of images or points, or an annotation export.
        out: The predictions CSV or export (written atomically).
        options: How to read the input and what to report (defaults: the checkpoint's config).
        review: Also write the review queue, most uncertain first, to this file.
        overwrite: Replace existing output files.

    Returns:
        What was written: rows, unreadable ones, rows flagged for review, time taken, the settings used.

    Raises:
        FileExistsError: If an output exists and ``overwrite`` is not set.
        FileNotFoundError: If the input (or a label map or tree) does not exist.
        ValueError: For unusable options or an input the model cannot predict on.
    """
    options = options or PredictOptions()
    source, out = Path(source), Path(out)
    review = Path(review) if review is not None else None
    check_request(source, out, options, review, overwrite)
    start = time.perf_counter()
    with _older_objects_frozen():
        session = _open(checkpoint, options)
        if options.export is not None:
            return _write_export(session, source, out, options, start)
        return _write_csv(session, source, out, options, review, start)


@contextlib.contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Keep the objects that exist before a run (modules, their functions) out of the garbage collector's passes.

    A full pass over them takes 0.2 s here and the collector starts one whenever enough new
    objects were made, on the model's thread; frozen (:func:`gc.freeze`), they are skipped and
    forked workers do not copy their pages by touching them. Unfrozen afterwards: nothing is
    kept from collection beyond the run.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _write_csv(session: _Session, source: Path, out: Path, options: PredictOptions, review: Path | None,
               start: float) -> PredictSummary:
    """The predictions CSV branch of :func:`write_predictions` (and its review queue)."""
    items = collect_items(source, options.format, options.root, options.label_map, options.label_tree,
                          options.separator, options.image_suffix)
    _warn_about_input(session, items, source)
    taxonomy = session.info.taxonomy
    table = PredictionTable(taxonomy, items, options.top_k, options.wide, options.min_probability)
    errors = flagged = 0
    bar = tqdm(total=len(items), unit="row", desc="predict", disable=None if options.progress else True)
    with atomic_path(out) as tmp_out, contextlib.ExitStack() as stack, bar:
        # with worker processes, rows are formatted in one more (row_writer), off the model's thread
        writer = open_row_writer(tmp_out, table, items, background=_workers(options) > 0, niceness=HELPER_NICENESS)
        stack.callback(writer.close)
        for batch in _batches(session, items, options):
            errors += len(batch.errors)
            rows = RowBatch(batch.indices, batch.errors)
            if batch.prediction is not None:
                assert batch.needs_review is not None and batch.uncertainty is not None  # set with the prediction
                assert batch.node_uncertainty is not None
                probs, decided = batch.prediction.probs, batch.prediction.predicted
                nodes, scores = top_k_suggestions(probs, taxonomy, options.top_k)
                flagged += int(batch.needs_review.sum())
                deepest = deepest_predicted(probs, taxonomy, session.threshold, decided)
                to_review = deepest & (path_max(batch.node_uncertainty, taxonomy) > session.review_threshold)
                rows.probs, rows.deepest = probs.cpu().numpy(), deepest.cpu().numpy()
                rows.uncertainty, rows.needs_review = batch.uncertainty.cpu().numpy(), batch.needs_review.cpu().numpy()
                rows.top_nodes, rows.top_confidence = nodes.cpu().numpy(), confidence_percent(scores).cpu().numpy()
                rows.to_review = to_review.cpu().numpy()
            writer.add(rows)
            bar.update(len(batch.indices) + len(batch.errors))
        if review is not None:
            with atomic_path(review) as tmp_review:
                written = writer.finish(Path(tmp_review))
        else:
            written = writer.finish(None)
    return PredictSummary(out, review, written, errors, flagged, time.perf_counter() - start,
                          settings=session.settings())


def _write_export(session: _Session, source: Path, out: Path, options: PredictOptions, start: float) -> PredictSummary:
    """The ``--export`` branch of :func:`write_predictions`: predict the export's items, write the tool's file."""
    taxonomy = session.info.taxonomy
    assert options.export is not None  # write_predictions takes this branch only with an export
    export = open_export(options.export, source, options, taxonomy)
    _warn_about_input(session, export.items, source)
    scorer = ExportScorer(export, taxonomy, session.threshold, options.top_k, session.review_threshold)
    results = scorer.results(len(export.items))
    bar = tqdm(total=len(export.items), unit="item", desc="predict", disable=None if options.progress else True)
    with bar:
        for batch in _batches(session, export.items, options):
            for index, message in batch.errors:
                results.fail(index, message)
            if batch.prediction is not None:
                assert batch.node_uncertainty is not None  # set with the prediction
                scorer.add(results, batch.indices, batch.prediction, batch.node_uncertainty)
            bar.update(len(batch.indices) + len(batch.errors))
    with atomic_path(out) as tmp_out:
        written = export.write(Path(tmp_out), results)
    flagged = int(results.needs_review.sum())
    return PredictSummary(out, None, written.rows, len(results.errors), flagged, time.perf_counter() - start,
                          export=options.export, notes=written.notes, settings=session.settings())


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
