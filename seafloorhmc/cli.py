"""``seafloorhmc`` command line: train, evaluate, predict, report, sweep, tune, synth, prepare, keys, export-encoder.

Each command imports what it needs when it runs, so ``--help``, ``keys`` and argument or config
errors answer without loading torch. Only this module prints (the library logs, and :func:`main`
routes its log records to stderr, one line each).

How a command ends (:func:`main`): a user error (a bad file, row, node or setting; a folder in use;
an unreadable image; a diverged run) is one line on stderr and exit status 2, never a traceback.
Anything else is a bug in seafloorhmc: one line that says so and where its traceback was written,
exit status 70 (``EX_SOFTWARE``); ``SEAFLOORHMC_TRACEBACK=1`` prints the traceback of either kind.
A closed output pipe (``seafloorhmc keys | head``) ends quietly. Every command that writes refuses
to replace existing output without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import __version__
from .data.readers import prediction_formats
from .prediction.exports import EXPORTS
from .utils.allocator import keep_freed_memory

__all__ = ["main", "build_parser", "format_metrics", "describe_error", "EXIT_USER_ERROR", "EXIT_BUG",
           "TRACEBACK_VARIABLE"]

EXIT_USER_ERROR = 2
EXIT_BUG = 70  # sysexits.h EX_SOFTWARE: an internal software error
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away
TRACEBACK_VARIABLE = "SEAFLOORHMC_TRACEBACK"

SUMMARY_KEYS = ("au_prc", "bin_ap", "precision", "recall", "f1", "rare_recall", "h_f1", "hvr", "ece")


def format_metrics(metrics: dict) -> str:
    """A small plain-text table of the headline metrics and recall/F1 by depth.

    Args:
        metrics: A run's or an evaluation's metrics.

    Returns:
        The table.
    """
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

    config = load_config(args.config, args.set)  # config errors answer before torch is loaded
    from .distributed import init_from_env, shutdown
    from .training import train

    dist = init_from_env(config.train.device)  # under torchrun (WORLD_SIZE > 1): join the process group
    try:
        out = Path(args.out) if args.out else Path("runs") / (config.name or "run") / time.strftime("%Y%m%d-%H%M%S")
        out = dist.broadcast_object(out)  # one folder name for all ranks (only rank 0 writes)
        config.name = config.name or (out.name if args.out else "run")  # the run is named after its folder
        metrics = train(config, out, resume=args.resume, overwrite=args.overwrite, dist=dist)
    finally:
        shutdown(dist)
    if metrics is not None and dist.is_main:
        print(f"\n{config.name}: test metrics (epoch {metrics['selected_epoch']}, {metrics['selection']}) -> {out}")
        print(format_metrics(metrics))
        if metrics.get("review_unflagged_precision") is not None:
            print(f"review flag (uncertainty > {metrics['review_threshold']:.4g}): "
                  f"{100 * metrics['review_flagged_share']:.1f} % of the test's predicted taxa flagged, "
                  f"{100 * metrics['review_rows_flagged_share']:.1f} % of its rows; the unflagged taxa were right "
                  f"{100 * metrics['review_unflagged_precision']:.1f} % of the time"
                  + (f" (target {metrics['review_target']:g})" if metrics.get("review_target") else ""))
    return 0


def _require(path: str, what: str) -> None:
    """Refuse a path that does not exist before anything heavy is imported."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{what} {path} does not exist")


def _cmd_evaluate(args) -> int:
    _require(args.checkpoint, "checkpoint")
    from .evaluation import evaluate_checkpoint

    metrics = evaluate_checkpoint(args.checkpoint, args.set, split=args.split, out=args.out, device=args.device,
                                  overwrite=args.overwrite)
    print(f"{args.checkpoint}: {args.split} split" + (f" -> {metrics['out']}" if metrics.get("out") else ""))
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
    from .prediction.options import PredictOptions, check_request, default_review_path
    from .utils.atomic import refuse_existing, remove_stale_temporaries

    options = PredictOptions(
        format=args.format, root=args.root, label_map=args.label_map, label_tree=args.label_tree,
        separator=args.separator, image_suffix=args.image_suffix, export=args.export, threshold=args.threshold,
        review_threshold=args.review_threshold, uncertainty=args.uncertainty, top_k=args.top_k, wide=args.wide,
        batch_size=args.batch_size, workers=args.workers, device=args.device, progress=not args.no_progress,
        gpu_decode=True if args.gpu_decode else None)
    review = None if args.review is None else (args.review or default_review_path(args.out))
    _require(args.checkpoint, "checkpoint")
    check_request(args.input, args.out, options, review, args.overwrite)  # answered before torch is loaded
    from .report.prediction_report import predict_report_path

    html = None if args.export else predict_report_path(args.out)
    refuse_existing([html] if html else [], args.overwrite, "report")  # the predictions' HTML report
    for target in (Path(args.out), Path(review) if review else None, html):
        if target is not None:
            remove_stale_temporaries(target.parent, targets=[target.name])
    from .prediction.predictor import write_predictions
    from .report import try_write_predict_report

    summary = write_predictions(args.checkpoint, args.input, args.out, options, review=review, overwrite=args.overwrite)
    what = f"{args.export} export" if summary.export else "predictions"
    print(f"{summary.rows} rows ({summary.needs_review} need review, {summary.errors} unreadable) -> {summary.out}"
          f" ({what})  [{summary.rows_per_second:.1f} rows/s]")
    for key, value in summary.settings:
        print(f"  {key}: {value}")
    for note in summary.notes:
        print(f"note: {note}")
    if summary.review is not None:
        print(f"review queue, most uncertain first -> {summary.review}")
    if summary.export is None:
        report = try_write_predict_report(summary.out, args.input, root=args.root, checkpoint=args.checkpoint,
                                          settings=summary.settings)
        if report is not None:
            print(f"report -> {report}")
    return 0


def _cmd_report(args) -> int:
    _require(args.path, "path")
    import contextlib

    from .report import write_report
    from .report.dispatch import report_path
    from .utils.atomic import refuse_existing, remove_stale_temporaries
    from .utils.locks import RunLock

    target = report_path(args.path, args.out)
    if target is not None:
        refuse_existing([target], args.overwrite, "report")
    is_run = Path(args.path).is_dir() and (Path(args.path) / "metrics.json").is_file()
    with RunLock(args.path) if is_run else contextlib.nullcontext():  # a run folder has one writer at a time
        if is_run:
            remove_stale_temporaries(args.path, recursive=True, min_age=0.0)
        elif target is not None:
            remove_stale_temporaries(target.parent, targets=[target.name])
        print(f"report: {write_report(args.path, out=args.out, top=args.top, image_root=args.image_root)}")
    return 0


def _cmd_export_encoder(args) -> int:
    _require(args.checkpoint, "checkpoint")
    from .models.persistence import export_encoder
    from .utils.atomic import remove_stale_temporaries

    remove_stale_temporaries(Path(args.out).parent, targets=[Path(args.out).name])
    print(f"encoder weights: {export_encoder(args.checkpoint, args.out, overwrite=args.overwrite)}")
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
    from .experiments.grid import expand, load_sweep, restrict

    spec = restrict(load_sweep(args.config), only=args.only, seeds=args.seeds, grid=args.grid, overrides=args.set)
    cells = expand(spec)  # sweep-file and config errors (and --dry-run) answer before torch is loaded
    out = Path(args.out) if args.out else Path("runs") / "sweeps" / spec.name
    command = _sweep_command(args, out)
    if args.dry_run:
        for cell in cells:
            print(f"{cell.index:>4}  {cell.id}")
        print(f"{len(cells)} cells -> {out / 'runs'}")
        return 0
    from .experiments.results import collect_rows
    from .experiments.summary import write_sweep_summary
    from .experiments.sweep import check_finished_cells, run_sweep
    from .utils.tables import write_table

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
                       stats=not args.no_stats, command=command, backend=args.backend,
                       options=_backend_options(args))
    print(f"\n{spec.name}: {len(result.finished)} of {result.cells} cells finished -> {result.table}"
          + (f", {result.summary}" if result.summary else ""))
    for cell_id, error in result.failed.items():
        print(f"FAILED {cell_id}: {error}", file=sys.stderr)
    return 1 if result.failed else 0


def _backend_options(args):
    """The placement flags shared by sweep and tune."""
    from .experiments.backends import BackendOptions

    return BackendOptions(address=args.address, cpus=args.cpus, gpus=args.gpus, retries=args.retries)


def _cmd_tune(args) -> int:
    import shlex

    from .experiments.backends import BackendOptions
    from .experiments.tune import load_tune, run_tune

    spec = load_tune(args.config, overrides=args.set, trials=args.trials)
    out = Path(args.out) if args.out else Path("runs") / "tune" / spec.name
    words = ["seafloorhmc", "tune", args.config, *[w for v in args.set for w in ("--set", v)],
             "--trials", str(spec.trials), "--out", str(out)]
    if args.backend != "local":
        words += ["--backend", args.backend] + (["--address", args.address] if args.address else [])
    options = BackendOptions(workers=args.workers, address=args.address, cpus=args.cpus, gpus=args.gpus,
                             retries=args.retries)
    result = run_tune(spec, out, backend=args.backend, options=options, command=shlex.join(words))
    best, default, test = result.best, result.default, result.test or {}
    assert best is not None  # run_tune raises when no trial finished
    print(f"\n{spec.name}: {len(result.trials)} trials -> {out / 'trials.csv'}")
    if default:
        print(f"default (trial {default['trial']}): validation macro F1 {default['val_f1_at_config_threshold']:.4f} at "
              f"its threshold, {default['value']:.4f} at its tuned threshold")
    print(f"best    (trial {best['trial']}): validation macro F1 {best['value']:.4f} at threshold {best['threshold']:g}"
          f" -> {result.best_yaml}")
    print(f"test (read once, {test.get('run')}): macro F1 {test.get('f1', float('nan')):.4f}, "
          f"AU(PRC) {test.get('au_prc', float('nan')):.4f} -> {result.summary}")
    return 0


def _placement_flags(p) -> None:
    """--backend, --address, --cpus, --gpus, --retries."""
    p.add_argument("--backend", default="local", choices=("local", "ray"),
                   help="where cells run: local (this machine) or ray (Ray tasks; pip install 'seafloorhmc[ray]')")
    p.add_argument("--address", help="ray: the cluster, 'auto' (ray start on this node) or HOST:PORT "
                                     "(default: start a Ray instance on this machine)")
    p.add_argument("--cpus", type=float, help="ray: CPUs per cell (default: the study's resources, else 1)")
    p.add_argument("--gpus", type=float, help="ray: GPUs per cell (default: the study's resources, else 1 when the "
                                              "cluster has GPUs)")
    p.add_argument("--retries", type=int, default=3,
                   help="ray: runs again of a cell whose worker died (it resumes from its checkpoint)")


def _cmd_keys(args) -> int:
    from .config import describe

    for key, default, text in describe():
        print(f"{key:<28} {default:<14} {text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command.

    Returns:
        The parser.
    """
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
    p.add_argument("--out", help="folder for the metrics: OUT/metrics.json, or OUT/metrics-<split>.json when OUT is "
                                 "a run folder (whose own metrics.json is never replaced)")
    p.add_argument("--device", default="auto")
    p.add_argument("--overwrite", action="store_true", help="replace an existing metrics file")
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
    p.add_argument("--overwrite", action="store_true", help="replace the dataset this command wrote there before")
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
    p.add_argument("--out", required=True, help="predictions CSV or export (refused if it exists, unless --overwrite)")
    p.add_argument("--export", choices=EXPORTS.names(),
                   help="write the annotation tool's import file instead of the predictions CSV: "
                        + "; ".join(f"{name}: {entry.summary}" for name, entry in EXPORTS.items()))
    p.add_argument("--format", default="auto", choices=prediction_formats(),
                   help="input format (auto: folder for a directory, manifest CSV for a file, the export's own "
                        "format with --export)")
    p.add_argument("--root", help="folder the input's image paths are relative to (default: the input's folder)")
    p.add_argument("--label-map", help="coralnet: short code → taxon path CSV (without it only the points are read; "
                                       "--export coralnet needs it); squidle export: CSV of label.id and "
                                       "label.lineage_names giving label ids")
    p.add_argument("--label-tree", help="biigle: labels.csv label tree (--export biigle takes label_id from it)")
    p.add_argument("--separator", default=" > ",
                   help="taxon path separator of squidle/benthicnet exports and of the label map")
    p.add_argument("--image-suffix", default="", help="squidle: extension appended to image keys without one")
    p.add_argument("--review", nargs="?", const="", metavar="PATH",
                   help="also write the review queue, most uncertain first (default PATH: <out>.review.csv)")
    p.add_argument("--wide", action="store_true", help="one probability column per node instead of JSON")
    p.add_argument("--top-k", type=int, default=5, help="machine suggestions per row")
    p.add_argument("--threshold", type=float,
                   help="probability above which a node is predicted (default: eval.threshold)")
    p.add_argument("--review-threshold", type=float,
                   help="uncertainty above which a row needs review (default: the threshold calibrated on validation "
                        "at the end of training, else eval.review_threshold)")
    p.add_argument("--uncertainty", help="uncertainty mode (default: eval.review_uncertainty)")
    p.add_argument("--batch-size", type=int, help="images per batch (default: train.batch_size)")
    p.add_argument("--workers", type=int, help="image-decoding worker processes (default: one per core, 1-8)")
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
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("export-encoder", help="save a trained run's encoder weights for model.weights=")
    p.add_argument("checkpoint", help="run folder or .safetensors file")
    p.add_argument("out", help="output .safetensors file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
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
    _placement_flags(p)
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("tune", help="search the rare-node loss, members, learning rate and decision threshold on the "
                                     "validation split (Optuna), then fit and test the best once; resumable")
    p.add_argument("config", help="study YAML (base:, space:, trials:; see seafloorhmc.experiments.tune)")
    p.add_argument("--out", help="study folder (default: runs/tune/<name>); rerunning continues the study")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a base config key")
    p.add_argument("--trials", type=int, help="the trial budget, all invocations together (default: the study's)")
    p.add_argument("--workers", type=int, help="ray: trials at once (default: what the cluster holds)")
    _placement_flags(p)
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("keys", help="list every config key with its default")
    p.set_defaults(func=_cmd_keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when sweep cells failed, 2 on a user error, 70 on a bug
        in seafloorhmc, 130 on Ctrl-C, 141 when the output pipe closed.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    keep_freed_memory()  # batch after batch the same buffers: no page faults for memory just freed
    with _logging_to_stderr():
        return _run(args)


def _run(args) -> int:
    show_traceback = os.environ.get(TRACEBACK_VARIABLE, "").strip() not in ("", "0")
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe fails here, inside the handlers, not at interpreter exit
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as err:  # noqa: BLE001 - every exception ends as one line (module docstring)
        if show_traceback:
            traceback.print_exc()
        message, is_bug = describe_error(err)
        if not is_bug:
            print(f"seafloorhmc {args.command}: error: {message}", file=sys.stderr)
            return EXIT_USER_ERROR
        where = "" if show_traceback else _save_traceback(err)
        print(f"seafloorhmc {args.command}: internal error (a bug in seafloorhmc, not in your data or settings): "
              f"{message} — {where}please report it", file=sys.stderr)
        return EXIT_BUG


_BUG_TYPES = ("TypeError", "AttributeError", "KeyError", "IndexError", "NameError", "AssertionError",
              "UnboundLocalError", "ZeroDivisionError", "NotImplementedError", "RecursionError", "ImportError",
              "ModuleNotFoundError", "SyntaxError", "StopIteration")
_WORKER_ERROR = re.compile(r"Caught (\w+) in DataLoader worker process \d+")


def describe_error(err: BaseException) -> tuple[str, bool]:
    """The one line to show for an exception, and whether it is a bug rather than a user error.

    User errors: every exception type defined by seafloorhmc, ``ValueError`` (bad values, files,
    rows, nodes, settings), ``OSError`` (missing, unreadable or existing files), arithmetic
    failures (a diverged run), running out of (GPU) memory, and the same raised in a DataLoader
    worker (which torch re-raises wrapped, with the worker's traceback in the message).

    Args:
        err: The exception.

    Returns:
        (message without newlines, is a bug).
    """
    text = str(err)
    if isinstance(err, RuntimeError):
        wrapped = _WORKER_ERROR.search(text)
        if wrapped is not None:  # the worker's own last line: "BadImageError: cannot read image ...: truncated"
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            inner = wrapped.group(1)
            last = next((line for line in reversed(lines) if line.startswith(f"{inner}:")), lines[-1])
            message = last.split(":", 1)[1].strip() if last.startswith(f"{inner}:") else last
            return _one_line(message if inner not in _BUG_TYPES else f"{inner}: {message}"), inner in _BUG_TYPES
        if "DataLoader worker" in text and "exited unexpectedly" in text:
            return (_one_line(text) + " — a data-loading process died, usually for lack of memory or shared memory; "
                    "lower data.workers or train.batch_size", False)
    ours = any(cls.__module__.split(".")[0] == "seafloorhmc" for cls in type(err).__mro__)
    if ours or isinstance(err, (ValueError, OSError, FloatingPointError, OverflowError, MemoryError)):
        return _one_line(text or type(err).__name__), False
    if type(err).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError, without importing torch here
        return _one_line(text.split(". ")[0]) + " — lower train.batch_size or data.image_size", False
    return _one_line(f"{type(err).__name__}: {text}" if text else type(err).__name__), True


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _save_traceback(err: BaseException) -> str:
    """Write the traceback to a temporary file; the phrase naming it (empty if it cannot be written)."""
    try:
        fd, path = tempfile.mkstemp(prefix="seafloorhmc-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(traceback.format_exception(err)))
    except OSError:
        return f"set {TRACEBACK_VARIABLE}=1 to see the traceback; "
    return f"traceback in {path} (or set {TRACEBACK_VARIABLE}=1 to print it); "


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


@contextlib.contextmanager
def _logging_to_stderr():
    """Library log records of INFO and above go to stderr as plain lines while a command runs.

    The logger's previous set-up is restored afterwards, so calling :func:`main` from Python (a
    notebook, a test) leaves no handler behind bound to a stream that may since have closed.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("seafloorhmc")
    saved = logger.handlers[:], logger.level, logger.propagate
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


if __name__ == "__main__":
    sys.exit(main())
