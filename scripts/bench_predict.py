#!/usr/bin/env python
"""`seafloorhmc predict` end to end vs the bare encoder's forward throughput (issue 4: ratio ≥ 0.8).

    python scripts/bench_predict.py                          # 2,000 synthetic 128 px images, resnet10t at 64 px
    python scripts/bench_predict.py --rounds 3 --encoder resnet18 --image-size 128
"""

import argparse
import logging
import os
from pathlib import Path

import torch

from seafloorhmc.benchmarks.predict import format_result, run_predict_bench


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cache = Path(os.environ.get("SEAFLOORHMC_DATA", Path.home() / ".cache" / "seafloorhmc"))
    parser.add_argument("--data", type=Path, help="synthetic image folder (default: a cache folder per size)")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=128, help="synthetic image side in pixels")
    parser.add_argument("--encoder", default="resnet10t")
    parser.add_argument("--image-size", type=int, default=64, help="network input size")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--workers", type=int, help="decoding workers (default: as `seafloorhmc predict`)")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    data = args.data or cache / f"bench-predict-n{args.images}-px{args.size}"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores; data {data}")
    result = run_predict_bench(data, args.images, args.size, args.encoder, args.image_size, args.batch_size,
                               args.workers, args.members, args.rounds)
    print(format_result(result))


if __name__ == "__main__":
    main()
