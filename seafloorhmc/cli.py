"""The ``seafloorhmc`` command: train, evaluate, synth (and the commands of later modules)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__

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
    from .engine import train

    config = load_config(args.config, args.set)
    out = Path(args.out) if args.out else Path("runs") / config.name / time.strftime("%Y%m%d-%H%M%S")
    metrics = train(config, out, resume=args.resume, overwrite=args.overwrite)
    if metrics is not None:
        print(f"\n{config.name}: test metrics (epoch {metrics['selected_epoch']}, {metrics['selection']}) -> {out}")
        print(format_metrics(metrics))
    return 0


def _cmd_evaluate(args) -> int:
    from .engine.evaluate_checkpoint import evaluate_checkpoint

    metrics = evaluate_checkpoint(args.checkpoint, args.set, split=args.split, out=args.out, device=args.device)
    print(f"{args.checkpoint}: {args.split} split")
    print(format_metrics(metrics))
    return 0


def _cmd_synth(args) -> int:
    from .data.synthetic import generate_synthetic_dataset

    manifest = generate_synthetic_dataset(args.out_dir, n_images=args.n, seed=args.seed, size=args.size,
                                          overwrite=args.overwrite, progress=True)
    print(f"synthetic dataset: {manifest}")
    return 0


def _cmd_export_encoder(args) -> int:
    from .engine.inference import export_encoder

    print(f"encoder weights: {export_encoder(args.checkpoint, args.out)}")
    return 0


def _cmd_keys(args) -> int:
    from .config import describe

    for key, default, text in describe():
        print(f"{key:<28} {default:<14} {text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
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

    p = sub.add_parser("synth", help="write the built-in synthetic seafloor dataset")
    p.add_argument("out_dir")
    p.add_argument("--n", type=int, default=600, help="number of images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=128, help="image side in pixels")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("export-encoder", help="save a trained run's encoder weights for model.weights=")
    p.add_argument("checkpoint", help="run folder or .safetensors file")
    p.add_argument("out", help="output .safetensors file")
    p.set_defaults(func=_cmd_export_encoder)

    p = sub.add_parser("keys", help="list every config key with its default")
    p.set_defaults(func=_cmd_keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileExistsError, FileNotFoundError, RuntimeError) as err:
        print(f"seafloorhmc {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
