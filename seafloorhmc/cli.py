"""The ``seafloorhmc`` command line: train, evaluate, predict, report, sweep, synth, prepare, keys, export-encoder.

Each command imports what it needs when it runs, so ``--help``, ``keys`` and argument or config
errors answer without loading torch. Library errors become one line on stderr and exit status 2;
only this module prints (the library logs, and :func:`main` routes its log records to stderr).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from . import __version__
from .data.readers import prediction_formats

SUMMARY_KEYS = ("au_prc", "bin_ap", "precision", "recall", "f1", "rare_recall", "h_f1", "hvr", "ece")


def format_metrics(metrics: dict) -> str:
    """A small plain-text table of the headline metrics and recall/F1 by depth."""
    lines = [f"{'metric':<14}{'value':>10}"]
    for key in SUMMARY_KEYS:
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            lines.append(f"{key:<14}{value:>10.4f}")
    by_depth = metrics.get("recall_by_depth") or {}
    if by_depth:
        f1_by_depth = metrics.get("f1_by_depth") or {}
        lines.append("")
        lines.append(f"{'depth':<8}{'recall':>10}{'f1':>10}")
        for depth in sorted(by_depth, key=int):
            f1 = f1_by_depth.get(depth)
            lines.append(f"{depth:<8}{by_depth[depth]:>10.4f}{(f1 if f1 is not None else float('nan')):>10.4f}")
    return "\n".join(lines)


def _cmd_train(args) -> int:
    from .config import load_config
    from .distributed import init_from_env, shutdown
    from .training import train

    config = load_config(args.config, args.set)
    dist = init_from_env(config.train.device)  # under torchrun (WORLD_SIZE > 1): join the process group
    try:
        out = Path(args.out) if args.out else Path("runs") / config.name / time.strftime("%Y%m%d-%H%M%S")
        out = dist.broadcast_object(out)  # one folder name for all ranks (only rank 0 writes)
        metrics = train(config, out, resume=args.resume, overwrite=args.overwrite, dist=dist)
    finally:
        shutdown(dist)
    if metrics is not None and dist.is_main:
        print(f"\n{config.name}: test metrics (epoch {metrics['selected_epoch']}, {metrics['selection']}) -> {out}")
        print(format_metrics(metrics))
    return 0


def _cmd_evaluate(args) -> int:
    from .evaluation import evaluate_checkpoint

    metrics = evaluate_checkpoint(args.checkpoint, args.set, split=args.split, out=args.out, device=args.device)
    print(f"{args.checkpoint}: {args.split} split")
    print(format_metrics(metrics))
    return 0


def _points_range(text: str) -> tuple[int, int]:
    """``40`` or ``25-100`` → (low, high) points per photo."""
    low, _, high = text.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or LOW-HIGH, got {text!r}") from None


def _cmd_synth(args) -> int:
    if args.survey:
        from .data.synthetic.survey import write_survey_dataset

        annotations = write_survey_dataset(args.out_dir, n_images=args.n or 12, width=args.width, height=args.height,
                                           points=args.points, quality=args.quality, seed=args.seed,
                                           overwrite=args.overwrite, progress=True)
        print(f"survey dataset: {annotations} (CoralNet export; label map {annotations.with_name('label_map.csv')})")
        return 0
    from .data.synthetic import generate_synthetic_dataset

    manifest = generate_synthetic_dataset(args.out_dir, n_images=args.n or 600, seed=args.seed, size=args.size,
                                          overwrite=args.overwrite, progress=True)
    print(f"synthetic dataset: {manifest}")
    return 0


def _cmd_prepare(args) -> int:
    from .config import load_config
    from .datamodule import prepare_data

    config = load_config(args.config, [*args.set, *([f"data.workers={args.workers}"] if args.workers else [])])
    cache = prepare_data(config).info.get("image_cache")
    if cache is None:
        print(f"nothing to cache: data.image_cache={config.data.image_cache} does not apply to this data (off, "
              "feature data, or whole images too small to shrink); set data.image_cache to a folder to cache anyway")
        return 0
    print(f"image cache {cache['folder']}: {cache['photos_decoded']} photos decoded, {cache['stored']} windows "
          f"stored, {cache['reused']} reused, {cache['unreadable_photos']} unreadable photos")
    return 0


def _cmd_predict(args) -> int:
    from .prediction import PredictOptions, default_review_path, write_predictions
    from .report import try_write_predict_report

    options = PredictOptions(
        format=args.format, root=args.root, label_map=args.label_map, label_tree=args.label_tree,
        separator=args.separator, threshold=args.threshold, review_threshold=args.review_threshold,
        uncertainty=args.uncertainty, top_k=args.top_k, wide=args.wide, batch_size=args.batch_size,
        workers=args.workers, device=args.device, progress=not args.no_progress,
        gpu_decode=True if args.gpu_decode else None)
    review = None if args.review is None else (args.review or default_review_path(args.out))
    summary = write_predictions(args.checkpoint, args.input, args.out, options, review=review, overwrite=args.overwrite)
    print(f"{summary.rows} rows ({summary.needs_review} need review, {summary.errors} unreadable) -> {summary.out}"
          f"  [{summary.rows_per_second:.1f} rows/s]")
    if summary.review is not None:
        print(f"review queue, most uncertain first -> {summary.review}")
    report = try_write_predict_report(summary.out, args.input, root=args.root, checkpoint=args.checkpoint)
    if report is not None:
        print(f"report -> {report}")
    return 0


def _cmd_report(args) -> int:
    from .report import write_report

    print(f"report: {write_report(args.path, out=args.out, top=args.top, image_root=args.image_root)}")
    return 0


def _cmd_export_encoder(args) -> int:
    from .models.persistence import export_encoder

    print(f"encoder weights: {export_encoder(args.checkpoint, args.out)}")
    return 0


def _sweep_command(args, out: Path) -> str:
    """The command line that rebuilds a sweep's table, summary and figures (quoted in summary.md)."""
    import shlex

    words = ["seafloorhmc", "sweep", args.config]
    for flag, values in (("--set", args.set), ("--only", args.only), ("--grid", args.grid)):
        for value in values:
            words += [flag, value]
    if args.seeds is not None:
        words += ["--seeds", str(args.seeds)]
    return shlex.join([*words, "--out", str(out), "--stats-only"])


def _cmd_sweep(args) -> int:
    from .experiments import expand, load_sweep, restrict, run_sweep
    from .experiments.results import collect_rows
    from .experiments.summary import write_sweep_summary
    from .experiments.sweep import check_finished_cells
    from .utils.tables import write_table

    spec = restrict(load_sweep(args.config), only=args.only, seeds=args.seeds, grid=args.grid, overrides=args.set)
    cells = expand(spec)
    out = Path(args.out) if args.out else Path("runs") / "sweeps" / spec.name
    command = _sweep_command(args, out)
    if args.dry_run:
        for cell in cells:
            print(f"{cell.index:>4}  {cell.id}")
        print(f"{len(cells)} cells -> {out / 'runs'}")
        return 0
    if args.stats_only:
        check_finished_cells(cells, out / "runs")
        rows = collect_rows(cells, out / "runs")
        if not rows:
            raise FileNotFoundError(f"{out / 'runs'}: none of the {len(cells)} cells has finished; run the sweep first")
        write_table(rows, out / "results.csv")
        summary = write_sweep_summary(rows, out, spec, command=command)
        print(f"{len(rows)} of {len(cells)} cells finished -> {out / 'results.csv'}, {summary}")
        return 0
    result = run_sweep(spec, cells, out, workers=args.workers, processes=True if args.processes else None,
                       stats=not args.no_stats, command=command)
    print(f"\n{spec.name}: {len(result.finished)} of {result.cells} cells finished -> {result.table}"
          + (f", {result.summary}" if result.summary else ""))
    for cell_id, error in result.failed.items():
        print(f"FAILED {cell_id}: {error}", file=sys.stderr)
    return 1 if result.failed else 0


def _cmd_keys(args) -> int:
    from .config import describe

    for key, default, text in describe():
        print(f"{key:<28} {default:<14} {text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="seafloorhmc", description=__doc__)
    parser.add_argument("--version", action="version", version=f"seafloorhmc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train and evaluate a configuration")
    p.add_argument("config", help="YAML config (see `seafloorhmc keys`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--out", help="run folder (default: runs/<name>/<timestamp>)")
    p.add_argument("--resume", action="store_true", help="continue the unfinished run in --out")
    p.add_argument("--overwrite", action="store_true", help="replace whatever --out holds")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="score a saved model")
    p.add_argument("checkpoint", help="run folder or .safetensors file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override keys of the saved config (e.g. data.annotations=other.csv)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--out", help="folder for metrics.json")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("synth", help="write the built-in synthetic seafloor dataset (or survey-sized JPEGs)")
    p.add_argument("out_dir")
    p.add_argument("--n", type=int, help="number of images (default 600; --survey: 12)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=128, help="image side in pixels")
    p.add_argument("--survey", action="store_true",
                   help="survey-sized JPEGs with a CoralNet point export instead (annotations.csv, label_map.csv)")
    p.add_argument("--width", type=int, default=4000, help="--survey: photo width")
    p.add_argument("--height", type=int, default=3000, help="--survey: photo height")
    p.add_argument("--points", type=_points_range, default=(25, 100), metavar="LOW-HIGH",
                   help="--survey: annotated points per photo (default 25-100)")
    p.add_argument("--quality", type=int, default=90, help="--survey: JPEG quality")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("prepare", help="decode every photo of a configuration's data once into the image cache "
                                       "(what training would do before its first epoch)")
    p.add_argument("config", help="YAML config (see `seafloorhmc keys`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--workers", type=int, help="decoding processes (default: data.workers, or one per core)")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("predict", help="predict taxa for a folder, a CSV of images/points or an annotation export")
    p.add_argument("checkpoint", help="run folder or .safetensors file")
    p.add_argument("input", help="image folder, CSV with an image column (optional x,y points), or an export")
    p.add_argument("--out", required=True, help="predictions CSV (refused if it exists, unless --overwrite)")
    p.add_argument("--format", default="auto", choices=prediction_formats(),
                   help="input format (auto: folder for a directory, manifest CSV for a file)")
    p.add_argument("--root", help="folder the input's image paths are relative to (default: the input's folder)")
    p.add_argument("--label-map", help="coralnet: label code → taxon path CSV (without it only the points are read)")
    p.add_argument("--label-tree", help="biigle: labels.csv label tree")
    p.add_argument("--separator", default=" > ", help="taxon path separator of squidle/benthicnet exports")
    p.add_argument("--review", nargs="?", const="", metavar="PATH",
                   help="also write the review queue, most uncertain first (default PATH: <out>.review.csv)")
    p.add_argument("--wide", action="store_true", help="one probability column per node instead of JSON")
    p.add_argument("--top-k", type=int, default=5, help="machine suggestions per row")
    p.add_argument("--threshold", type=float, help="probability above which a node is predicted (default: eval.threshold)")
    p.add_argument("--review-threshold", type=float,
                   help="uncertainty above which a row needs review (default: eval.review_threshold)")
    p.add_argument("--uncertainty", help="uncertainty mode (default: eval.review_uncertainty)")
    p.add_argument("--batch-size", type=int, help="images per batch (default: train.batch_size)")
    p.add_argument("--workers", type=int, help="image-decoding worker processes (default: half the cores, 1-8)")
    p.add_argument("--device", default="auto")
    p.add_argument("--gpu-decode", action="store_true",
                   help="decode JPEGs on the GPU (nvJPEG) when --device is CUDA (default: data.gpu_decode)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("report", help="(re)build report.html of a run folder, a predictions CSV or a sweep")
    p.add_argument("path", help="run folder, predictions CSV, sweep folder (results.csv) or sweep results CSV")
    p.add_argument("--out", help="predictions: the .html file (default: CSV name with .html); sweep: the folder")
    p.add_argument("--top", type=int, default=24, help="predictions: most uncertain rows shown as thumbnails")
    p.add_argument("--image-root", help="predictions: folder the image paths are relative to (predict's --root)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("export-encoder", help="save a trained run's encoder weights for model.weights=")
    p.add_argument("checkpoint", help="run folder or .safetensors file")
    p.add_argument("out", help="output .safetensors file")
    p.set_defaults(func=_cmd_export_encoder)

    p = sub.add_parser("sweep", help="run a grid of trainings (methods × fractions × seeds ...), resumable, "
                                      "with one results table and statistics")
    p.add_argument("config", help="sweep YAML (base:/datasets:, methods:, grid:; see seafloorhmc.experiments.grid)")
    p.add_argument("--out", help="sweep folder (default: runs/sweeps/<name>); rerunning skips finished cells")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of every cell's base config (methods and grid axes still win)")
    p.add_argument("--only", action="append", default=[], metavar="AXIS=V[,V]",
                   help="keep only these values of an axis, e.g. --only method=baseline,weighted")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=[V,...]",
                   help="replace (or add) an axis, e.g. --grid data.train_fraction=[0.1,1.0]")
    p.add_argument("--seeds", type=int, help="keep the first N values of the seed axis")
    p.add_argument("--workers", type=int, help="cells trained at once (default: 1 on <= 2 cores, else cores // 2); "
                                               "worker processes get cores // workers threads each, fewer if "
                                               "OMP_NUM_THREADS is set lower")
    p.add_argument("--processes", action="store_true", help="run every cell in a worker process even with one worker")
    p.add_argument("--dry-run", action="store_true", help="list the cells and exit")
    p.add_argument("--stats-only", action="store_true",
                   help="rebuild results.csv, summary.md and the figures from the finished cells; train nothing")
    p.add_argument("--no-stats", action="store_true", help="write results.csv only")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("keys", help="list every config key with its default")
    p.set_defaults(func=_cmd_keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when sweep cells failed, 2 on a user error, 130 on Ctrl-C.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileExistsError, FileNotFoundError, RuntimeError) as err:
        print(f"seafloorhmc {args.command}: error: {err}", file=sys.stderr)
        return 2


def _configure_logging() -> None:
    """Library log records of INFO and above go to stderr as plain lines (progress, warnings)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("seafloorhmc")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


if __name__ == "__main__":
    sys.exit(main())
