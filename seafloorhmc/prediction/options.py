"""What ``seafloorhmc predict`` is asked to do, and the checks that need no model (no torch).

The command line checks a request with :func:`check_request` before it loads torch, so a wrong
path, an existing output or a missing label map is answered at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from ..choices import UNCERTAINTY_ALIASES, UncertaintyMode
from ..data.readers import prediction_formats
from .exports import EXPORTS

__all__ = ["PredictOptions", "check_request", "default_review_path"]


@dataclass
class PredictOptions:
    """How to read the input and what to report; None means "as the checkpoint says".

    Attributes:
        format: Input format (``auto``: folder for a directory, manifest for a file; with
            ``export``: the export's own format).
        root: Folder the input's image paths are relative to.
        label_map: CoralNet label map (code → taxon path); SQUIDLE+: a CSV of ``label.id`` and
            ``label.lineage_names`` giving label ids.
        label_tree: BIIGLE ``labels.csv``.
        separator: Taxon path separator of the input's paths and of the label map.
        image_suffix: SQUIDLE+: extension appended to image keys without one.
        export: Write this annotation tool's import format instead of the predictions CSV.
        threshold: Probability above which a node is predicted.
        review_threshold: Uncertainty above which a row needs review (default: the threshold
            calibrated at the end of training).
        uncertainty: Uncertainty mode.
        top_k: Machine suggestions per row.
        wide: One probability column per node instead of JSON.
        min_probability: Smallest probability listed in the JSON column.
        batch_size: Images per batch.
        workers: Image-decoding processes.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        seed: Seed of MC-dropout sampling.
        progress: Show a progress bar.
        gpu_decode: Decode JPEGs on the GPU (None: as the checkpoint's ``data.gpu_decode``).
    """

    format: str = "auto"
    root: str | None = None
    label_map: str | None = None
    label_tree: str | None = None
    separator: str = " > "
    image_suffix: str = ""
    export: str | None = None
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


def default_review_path(out: str | Path) -> Path:
    """The review queue's default file: ``predictions.csv`` → ``predictions.review.csv``.

    Args:
        out: The predictions CSV.

    Returns:
        The review queue's path.
    """
    out = Path(out)
    return out.with_name(f"{out.stem}.review{out.suffix or '.csv'}")


def check_request(source: str | Path, out: str | Path, options: PredictOptions, review: str | Path | None = None,
                  overwrite: bool = False) -> None:
    """Refuse a request that cannot work, before any model is loaded.

    Args:
        source: The prediction input.
        out: The output file.
        options: The request's options.
        review: The review queue's file, if one is asked for.
        overwrite: Whether existing outputs may be replaced.

    Raises:
        FileNotFoundError: If the input, label map or label tree does not exist.
        FileExistsError: If an output exists and ``overwrite`` is not set.
        ValueError: For options out of range, an unknown format, uncertainty or export, an export
            without what it needs, or an output that is the input.
    """
    source, out = Path(source), Path(out)
    fmt = str(options.format).strip().lower()
    if fmt not in prediction_formats():
        raise ValueError(f"unknown input format {options.format!r}; choose one of {', '.join(prediction_formats())}")
    if options.export is not None:
        EXPORTS.get(options.export).check(options, fmt)
        if review is not None:
            raise ValueError("--review writes a review queue of the predictions CSV; with --export the flag is in the "
                             "exported file itself (drop --review)")
    if options.threshold is not None and not 0.0 <= options.threshold < 1.0:
        raise ValueError(f"threshold must lie in [0, 1), got {options.threshold}")
    if options.review_threshold is not None and options.review_threshold < 0:
        raise ValueError(f"review threshold must be >= 0, got {options.review_threshold}")
    modes, mode = get_args(UncertaintyMode), options.uncertainty
    if mode is not None and UNCERTAINTY_ALIASES.get(mode, mode) not in modes:
        raise ValueError(f"unknown uncertainty {options.uncertainty!r}; choose one of {', '.join(modes)}")
    if options.top_k < 1:
        raise ValueError(f"top-k must be at least 1, got {options.top_k}")
    if options.batch_size is not None and options.batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {options.batch_size}")
    if options.workers is not None and options.workers < 0:
        raise ValueError(f"workers must be >= 0, got {options.workers}")
    if not source.exists():
        raise FileNotFoundError(f"prediction input {source} does not exist")
    for what, path in (("label map", options.label_map), ("label tree", options.label_tree)):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"{what} {path} does not exist")
    targets = [out] + ([Path(review)] if review is not None else [])
    if review is not None and Path(review).resolve() == out.resolve():
        raise ValueError(f"the review queue {review} and the predictions {out} must be different files")
    for target in targets:
        if target.resolve() == source.resolve():
            raise ValueError(f"output {target} is the prediction input; choose another file")
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} already exists; choose another output or pass --overwrite to replace it")
