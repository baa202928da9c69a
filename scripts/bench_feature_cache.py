#!/usr/bin/env python
"""A sweep of 20 frozen-encoder runs over one dataset: cached features vs re-encoding every batch.

    python scripts/bench_feature_cache.py                       # 20 runs, 120 images, resnet18 at 96 px
    python scripts/bench_feature_cache.py --runs 2 --images 12 --size 32 --encoder test_resnet --epochs 1
"""

import argparse
import logging

import torch

from seafloorhmc.benchmarks.feature_cache import compare, markdown_table


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--size", type=int, default=96, help="network input side in pixels")
    parser.add_argument("--encoder", default="resnet18")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--work", help="folder for the dataset, cache and runs (default: a temporary one)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.runs} runs × {args.epochs} epochs, "
          f"{args.images} images, frozen {args.encoder} at {args.size} px, batch {args.batch}\n")
    cached, recomputed = compare(args.runs, args.images, args.size, args.encoder, args.epochs, args.batch, args.work)
    print(markdown_table(cached, recomputed))


if __name__ == "__main__":
    main()
