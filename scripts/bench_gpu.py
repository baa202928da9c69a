#!/usr/bin/env python
"""Images/s of a full training step (resnet50, 224 px; 1 and 20 members, ensemble vs MC-dropout)
against the bare timm encoder, and of the data pipeline. Run it on a GPU machine:

    python scripts/bench_gpu.py                          # CUDA, bf16, channels-last
    python scripts/bench_gpu.py --compile                # plus torch.compile
    python scripts/bench_gpu.py --device cpu --size 64 --batch 8 --steps 2 --hidden 64   # smoke test
"""

import argparse
import logging
import os

import torch

from seafloorhmc.benchmarks.gpu import bench_data, bench_steps, data_table, steps_table


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--encoder", default="resnet50")
    parser.add_argument("--size", type=int, default=224, help="input side in pixels")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--members", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--hidden", type=int, help="head width (default: the encoder's feature width, as the paper)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per row")
    parser.add_argument("--warmup", type=int, help="untimed steps per row (default: steps / 4, at least 1)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the models")
    parser.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="data-loading processes")
    parser.add_argument("--images", type=int, help="images in the data-pipeline test (default: 8 batches)")
    parser.add_argument("--source", type=int, help="side of the JPEGs decoded (default: 2 × --size)")
    args = parser.parse_args()
    warmup = args.warmup if args.warmup is not None else max(1, args.steps // 4)
    print(f"torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name(args.device)})" if args.device.startswith("cuda") else "")
          + f", {args.encoder} at {args.size} px, batch {args.batch}, compile={args.compile}\n")
    rows = bench_steps(args.encoder, args.size, args.batch, tuple(args.members), hidden=args.hidden,
                       device=args.device, steps=args.steps, warmup=warmup,
                       amp=False if args.no_amp else None, channels_last=False if args.no_channels_last else None,
                       compile=args.compile)
    print(steps_table(rows))
    data = bench_data(args.size, args.batch, args.workers, args.images or 8 * args.batch, args.source, args.device)
    print()
    print(data_table(data, min(r.images_per_s for r in rows if r.name.startswith("full step"))))


if __name__ == "__main__":
    main()
