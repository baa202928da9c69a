#!/usr/bin/env python
"""The input pipeline on survey-sized JPEGs: training epochs and predict against decode and encoder limits (issue 16).

    python scripts/bench_data.py                  # 48 photos of 4000x3000, 25-100 points each, resnet10t at 64 px
    python scripts/bench_data.py --photos 24 --rounds 1 --train-workers 0   # half the job, once: ~3 minutes
    python scripts/bench_data.py --photos 2 --width 640 --height 480 --points 5-8 --encoder test_resnet \\
        --image-size 64 --patch-size 48 --epochs 2 --uncached-steps 1      # seconds: a smoke test
"""

import argparse
import logging
import os

import torch

from seafloorhmc.benchmarks.data import DataBenchSettings, format_table, run_data_bench


def _range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = DataBenchSettings()
    parser.add_argument("--photos", type=int, default=d.photos)
    parser.add_argument("--width", type=int, default=d.width)
    parser.add_argument("--height", type=int, default=d.height)
    parser.add_argument("--points", type=_range, default=d.points, metavar="LOW-HIGH", help="points per photo")
    parser.add_argument("--quality", type=int, default=d.quality, help="JPEG quality")
    parser.add_argument("--encoder", default=d.encoder)
    parser.add_argument("--image-size", type=int, default=d.image_size, help="network input side")
    parser.add_argument("--patch-size", type=int, default=d.patch_size, help="side of the patch cut around a point")
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--train-workers", type=int, default=d.train_workers, help="data.workers of the trainings")
    parser.add_argument("--predict-workers", type=int,
                        help="predict's decoding workers (default: predict's own, one per core)")
    parser.add_argument("--uncached-steps", type=int, default=d.uncached_steps,
                        help="training steps timed without any cache (0: skip)")
    parser.add_argument("--rounds", type=int, default=d.rounds, help="repeat the decode/encoder/predict timings")
    parser.add_argument("--work", help="folder for the cache, patches and runs (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = DataBenchSettings(args.photos, args.width, args.height, args.points, args.quality, args.encoder,
                                 args.image_size, args.patch_size, args.batch_size, args.epochs, args.train_workers,
                                 args.predict_workers, args.uncached_steps, args.rounds)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    print(format_table(run_data_bench(settings, args.work)))


if __name__ == "__main__":
    main()
