#!/usr/bin/env python
"""Training-step cost: 20 ensemble members vs 1, and head + loss vs the bare encoder (CPU, 64 px).

    python scripts/bench_train.py                       # resnet18, 64 px, batch 32
    python scripts/bench_train.py --encoder resnet50 --size 224 --device cuda
"""

import argparse
import logging

import torch

from seafloorhmc.benchmarks.train_step import markdown, run


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="resnet18")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--members", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--hidden", type=int, nargs="+", default=None,
                        help="head widths to measure (default: the encoder's feature width, as in the paper)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    result = run(args.encoder, args.size, args.batch, tuple(args.members), hidden=args.hidden, rounds=args.rounds,
                 device=args.device)
    print(markdown(result, args.encoder, args.size, args.batch))


if __name__ == "__main__":
    main()
