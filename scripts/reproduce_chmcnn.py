#!/usr/bin/env python
"""Reproduce C-HMCNN's published AU(PRC) with seafloorhmc's max-constraint head and MCLoss.

    python scripts/reproduce_chmcnn.py --data-root ../shared/data/hmc --datasets cellcycle_FUN Diatoms_others \
        --seeds 0 1 2 --out runs/reproduce

Finished runs are reused, interrupted ones resumed; prints one row per run and the mean per dataset.
"""

import argparse
import logging
import statistics

from seafloorhmc.benchmarks.chmcnn import SETTINGS, reproduce


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--datasets", nargs="+", default=["cellcycle_FUN"], choices=sorted(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default="runs/reproduce")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    rows = reproduce(args.datasets, args.seeds, args.data_root, args.out, args.set)
    print("| dataset | seed | AU(PRC) | published | seconds |\n| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['dataset']} | {r['seed']} | {r['au_prc']:.4f} | {r['published']} | {r['seconds']} |")
    for dataset in args.datasets:
        done = [r for r in rows if r["dataset"] == dataset]
        values = [r["au_prc"] for r in done]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{dataset}: mean AU(PRC) {statistics.mean(values):.4f} ± {spread:.4f} over {len(values)} seeds "
              f"(published {done[0]['published']})")


if __name__ == "__main__":
    main()
