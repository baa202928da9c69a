#!/usr/bin/env python
"""Load (issue 11): streaming readers vs whole-file reading, and predict's memory over 20,000 images.

    python scripts/bench_load.py                      # readers at 100k/300k/1M rows, predict 2,000 and 20,000
    python scripts/bench_load.py --readers-only --sizes 100000 1000000
    python scripts/bench_load.py --predict-only --counts 2000 20000
"""

import argparse
import os
from pathlib import Path

from seafloorhmc.benchmarks.load import (
    format_predict_memory,
    format_reader_table,
    run_predict_memory_bench,
    run_reader_bench,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cache = Path(os.environ.get("SEAFLOORHMC_DATA", Path.home() / ".cache" / "seafloorhmc"))
    parser.add_argument("--data", type=Path, default=cache / "bench-load", help="where the exports and images go")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000],
                        help="rows read by the streaming readers")
    parser.add_argument("--reference-sizes", type=int, nargs="+", default=[100_000, 300_000],
                        help="rows also read on the whole-file path")
    parser.add_argument("--rate-rows", type=int, default=300_000, help="rows of the speed comparison")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--counts", type=int, nargs="+", default=[2_000, 20_000], help="images predicted")
    parser.add_argument("--workers", type=int, help="predict's decoding workers (default: as seafloorhmc predict)")
    parser.add_argument("--readers-only", action="store_true")
    parser.add_argument("--predict-only", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; data {args.data}")
    if not args.predict_only:
        result = run_reader_bench(args.data / "exports", tuple(args.sizes), tuple(args.reference_sizes),
                                  args.rate_rows, args.rounds)
        print(format_reader_table(result))
    if not args.readers_only:
        print(format_predict_memory(run_predict_memory_bench(args.data / "predict", tuple(args.counts),
                                                             workers=args.workers)))


if __name__ == "__main__":
    main()
