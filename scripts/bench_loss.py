#!/usr/bin/env python
"""Rare-node loss forward+backward: seafloorhmc vs the reference code's dense style, side by side.

    python scripts/bench_loss.py              # the three issue cases
    python scripts/bench_loss.py --scaling    # plus time and peak memory as N grows (B=128, M=20)
"""

import argparse
import logging

import torch

from seafloorhmc.benchmarks.loss import DEFAULT_CASES, SCALING_NODES, markdown_table, run_cases


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scaling", action="store_true", help="also measure growth with N at B=128, M=20")
    parser.add_argument("--uncertainty", default="bma")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, class-wise weights, focal {args.uncertainty}")
    print(markdown_table(run_cases(DEFAULT_CASES, args.uncertainty, args.rounds)))
    if args.scaling:
        print("\nGrowth with N (B=128, M=20; the reference runs only where it needs < 3 GiB):")
        print(markdown_table(run_cases([(n, 128, 20) for n in SCALING_NODES], args.uncertainty, 3)))


if __name__ == "__main__":
    main()
