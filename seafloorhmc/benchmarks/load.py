"""Load: readers stream million-row exports, and ``predict`` keeps a flat memory over 20,000 images.

**Readers.** A CoralNet annotation export and a SQUIDLE+ export of N rows (realistic columns, a
synthetic label set) are read twice in one process: by the streaming reader
(:func:`~seafloorhmc.data.tables.stream_csv_rows`: one row at a time) and by the reference, the same
reader on the whole-file path it used before (file read into one string, every row parsed into a
list, then converted). Python allocations are traced (``tracemalloc``): *kept* is what the
returned records hold, *transient* the peak above that. The claim: the streaming reader's
transient memory stays flat as N grows (so memory grows only with the records kept), while the
reference's grows with N. Speed: rows per second without tracing, medians over interleaved rounds.

**Predict.** One checkpoint (random weights; memory does not depend on them) predicts a CSV
listing 2,000 and then 20,000 distinct small images in the same process, with the default
decoding workers. A thread samples the resident memory of this process and its workers every
50 ms (proportional set size: pages a forked worker shares with its parent are counted once). The
claim is that the peak above the starting level is about the same for 20,000 images as for 2,000
(per row only a byte offset and a sort key are kept), and that memory in the last quarter of the
run is no higher than in its second quarter.
"""

from __future__ import annotations

import csv
import gc
import os
import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import numpy as np

from ..data.readers import coralnet as coralnet_module
from ..data.readers import squidle as squidle_module
from ..data.readers.coralnet import read_coralnet
from ..data.readers.squidle import read_squidle
from ..data.tables import parse_table, read_text

__all__ = ["ReaderMeasurement", "PredictMemory", "write_coralnet_export", "write_squidle_export", "whole_file_rows",
           "measure_reader", "reader_rates", "run_reader_bench", "run_predict_memory_bench", "format_reader_table",
           "format_predict_memory", "process_tree_rss"]

TAXA = [("Biota", "Echinoderms", "Sea urchins"), ("Biota", "Echinoderms", "Sea stars"), ("Biota", "Sponges"),
        ("Biota", "Cnidaria", "Soft corals"), ("Biota", "Cnidaria", "Hard corals"), ("Substrate", "Sand"),
        ("Substrate", "Rock"), ("Biota", "Fishes")]
CODES = ["URCH", "STAR", "SPON", "SOFT", "HARD", "SAND", "ROCK", "FISH"]


# ---------------------------------------------------------------------------------------------- the exports
def write_coralnet_export(folder: str | Path, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """A CoralNet annotation export of ``rows`` points (with machine suggestions) and its label map.

    Args:
        folder: Where to write ``annotations.csv`` and ``label_map.csv``.
        rows: Data rows.
        seed: Random seed of the labels and points.

    Returns:
        (export, label map).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    label_map = folder / "label_map.csv"
    with open(label_map, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Short Code", "path"])
        writer.writerows([code, " > ".join(path)] for code, path in zip(CODES, TAXA))
    export = folder / "annotations.csv"
    rng = np.random.default_rng(seed)
    header = ["Name", "Date", "Aux1", "Row", "Column", "Label", "Annotator", "Date annotated"]
    for i in range(1, 4):
        header += [f"Machine suggestion {i}", f"Machine confidence {i}"]
    with open(export, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for start in range(0, rows, 10_000):
            n = min(10_000, rows - start)
            labels = rng.integers(0, len(CODES), (n, 4))
            points = rng.integers(0, 3000, (n, 2))
            writer.writerows(
                [f"reef_{(start + j) // 50:06d}.JPG", "2024-03-01", "site A", int(points[j, 0]), int(points[j, 1]),
                 CODES[labels[j, 0]], "alice", "2024-03-02 10:11:12+00:00",
                 CODES[labels[j, 1]], 71, CODES[labels[j, 2]], 18, CODES[labels[j, 3]], 6] for j in range(n))
    return export, label_map


def write_squidle_export(folder: str | Path, rows: int, seed: int = 0) -> Path:
    """A SQUIDLE+ annotation-set export of ``rows`` points.

    Args:
        folder: Where to write ``squidle.csv``.
        rows: Data rows.
        seed: Random seed of the labels and points.

    Returns:
        The export.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / "squidle.csv"
    rng = np.random.default_rng(seed)
    header = ["point.id", "point.media.id", "point.media.key", "point.x", "point.y", "label.id", "label.name",
              "label.lineage_names", "likelihood", "needs_review", "tag_names", "comment", "user.username"]
    with open(export, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for start in range(0, rows, 10_000):
            n = min(10_000, rows - start)
            labels = rng.integers(0, len(TAXA), n)
            xy = rng.random((n, 2))
            writer.writerows(
                [start + j, (start + j) // 25, f"PR_2019_{(start + j) // 25:07d}.jpg", f"{xy[j, 0]:.4f}",
                 f"{xy[j, 1]:.4f}", int(labels[j]), TAXA[labels[j]][-1], " > ".join(TAXA[labels[j]]), "0.9",
                 "false", "", "", "bob"] for j in range(n))
    return export


# ---------------------------------------------------------------------------------------------- readers
def whole_file_rows(path, required=(), aliases=None, encoding="utf-8-sig"):
    """The reference table reader: the whole file as one string, every row parsed into a list first.

    Args:
        path: The CSV.
        required: Columns that must be present.
        aliases: Alternative header names.
        encoding: Text encoding.

    Returns:
        (header, list of rows), as the readers got them before they streamed.
    """
    return parse_table(read_text(path, encoding), path, required, aliases)


@contextmanager
def _reference_tables():
    """Make the readers use :func:`whole_file_rows` (the way they read before) inside the block."""
    with mock.patch.object(coralnet_module, "stream_csv_rows", whole_file_rows), \
            mock.patch.object(squidle_module, "stream_csv_rows", whole_file_rows):
        yield


@dataclass
class ReaderMeasurement:
    """One reader on one file: rows, what the records keep, the transient peak above that."""

    format: str
    path: str
    rows: int
    kept_bytes: int
    transient_bytes: int

    @property
    def transient_per_row(self) -> float:
        """Transient bytes per row read."""
        return self.transient_bytes / max(self.rows, 1)


def _traced(fn: Callable[[], list]) -> tuple[int, int, int]:
    """(records, kept bytes, transient bytes) of ``fn`` under tracemalloc."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        records = fn()
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return len(records), kept, max(0, peak - kept)


def _readers(coralnet: tuple[Path, Path], squidle: Path) -> dict[str, Callable[[], list]]:
    export, label_map = coralnet
    return {"coralnet": lambda: read_coralnet(export, label_map), "squidle": lambda: read_squidle(squidle)}


def measure_reader(fmt: str, read: Callable[[], list], path: Path, reference: bool) -> ReaderMeasurement:
    """Trace one read of a file (streaming, or on the reference path).

    Args:
        fmt: ``coralnet`` or ``squidle``.
        read: Reads the file and returns the records.
        path: The file (for the table).
        reference: Read on the whole-file path instead.

    Returns:
        The measurement (label ``<format>`` or ``<format> (whole file)``).
    """
    if reference:
        with _reference_tables():
            rows, kept, transient = _traced(read)
    else:
        rows, kept, transient = _traced(read)
    return ReaderMeasurement(fmt + (" (whole file)" if reference else ""), str(path), rows, kept, transient)


def reader_rates(read: Callable[[], list], rows: int, rounds: int = 3) -> tuple[float, float]:
    """Rows per second, streaming and reference, medians of interleaved rounds (no tracing).

    Args:
        read: Reads the file and returns the records.
        rows: Rows in the file.
        rounds: Rounds per path.

    Returns:
        (streaming rows/s, reference rows/s).
    """
    seconds: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for reference in (False, True):
            gc.collect()
            start = time.perf_counter()
            if reference:
                with _reference_tables():
                    read()
            else:
                read()
            seconds[reference].append(time.perf_counter() - start)
    return rows / statistics.median(seconds[False]), rows / statistics.median(seconds[True])


def run_reader_bench(folder: str | Path, sizes: tuple[int, ...] = (100_000, 300_000, 1_000_000),
                     reference_sizes: tuple[int, ...] = (100_000, 300_000), rate_rows: int = 300_000,
                     rounds: int = 3, log: Callable[[str], None] = print) -> dict:
    """Trace both readers at every size (the reference only at ``reference_sizes``) and time them.

    Args:
        folder: Where the exports are written (kept for reruns).
        sizes: Row counts read by the streaming readers.
        reference_sizes: Row counts also read on the whole-file path (it needs ~1.5 KB per row).
        rate_rows: Row count of the timing comparison.
        rounds: Timing rounds.
        log: Where progress lines go.

    Returns:
        ``{"memory": [ReaderMeasurement...], "rates": {format: (streaming, reference)}}``.
    """
    folder = Path(folder)
    memory: list[ReaderMeasurement] = []
    rates: dict[str, tuple[float, float]] = {}
    for rows in sorted(set(sizes) | set(reference_sizes) | {rate_rows}):
        coralnet = folder / f"coralnet-{rows}"
        squidle = folder / f"squidle-{rows}"
        if not (coralnet / "annotations.csv").is_file():
            log(f"writing {rows:,}-row exports to {folder}")
            write_coralnet_export(coralnet, rows)
            write_squidle_export(squidle, rows)
        files = {"coralnet": coralnet / "annotations.csv", "squidle": squidle / "squidle.csv"}
        readers = _readers((coralnet / "annotations.csv", coralnet / "label_map.csv"), squidle / "squidle.csv")
        for fmt, read in readers.items():
            for reference in (False, True):
                if rows in (reference_sizes if reference else sizes):
                    memory.append(measure_reader(fmt, read, files[fmt], reference))
                    log(f"  {memory[-1].format} {rows:,} rows: kept {memory[-1].kept_bytes / 2**20:.0f} MiB, "
                        f"transient {memory[-1].transient_bytes / 2**20:.1f} MiB")
            if rows == rate_rows:
                rates[fmt] = reader_rates(read, rows, rounds)
    return {"memory": memory, "rates": rates}


def format_reader_table(result: dict) -> str:
    """The reader results as Markdown tables.

    Args:
        result: :func:`run_reader_bench`'s result.

    Returns:
        The tables.
    """
    lines = ["| reader | rows | records kept MiB | transient peak MiB | transient bytes / row |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for m in sorted(result["memory"], key=lambda m: (m.format, m.rows)):
        lines.append(f"| {m.format} | {m.rows:,} | {m.kept_bytes / 2**20:.0f} | {m.transient_bytes / 2**20:.1f} | "
                     f"{m.transient_per_row:.1f} |")
    lines += ["", "| reader | streaming rows/s | whole-file rows/s | ratio |", "| --- | ---: | ---: | ---: |"]
    for fmt, (fast, reference) in result["rates"].items():
        lines.append(f"| {fmt} | {fast:,.0f} | {reference:,.0f} | {fast / reference:.2f}× |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- predict
def _pss_kib(pid: int) -> int:
    """Proportional set size: resident memory with pages shared between processes split among them.

    A forked DataLoader worker shares most of its pages with the main process; summing plain RSS
    would count them twice.
    """
    for source, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(source) as handle:
                for line in handle:
                    if line.startswith(key):
                        return int(line.split()[1])
        except OSError:
            continue
    return 0


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(c) for c in handle.read().split()]
    except OSError:
        pass
    return found


def process_tree_rss(pid: int | None = None) -> int:
    """Resident memory of a process and all its descendants (DataLoader workers), in bytes.

    Args:
        pid: The process (default: this one).

    Returns:
        The sum of their proportional set sizes (shared pages counted once; plain RSS where the
        kernel has no ``smaps_rollup``; 0 where ``/proc`` is not available).
    """
    pid = os.getpid() if pid is None else pid
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += _pss_kib(current)
        stack += _children(current)
    return total * 1024


@dataclass
class PredictMemory:
    """Resident memory (this process + its workers) sampled while ``predict`` ran over ``images`` rows."""

    images: int
    seconds: float
    baseline: int
    samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def peak_above_baseline(self) -> int:
        """Highest sample above the level before the run, in bytes."""
        return max((rss for _, rss in self.samples), default=self.baseline) - self.baseline

    def quarter_peak(self, quarter: int) -> int:
        """Highest sample in a quarter of the run, above the baseline.

        Args:
            quarter: 1 to 4.

        Returns:
            Bytes (0 when no sample fell in that quarter).
        """
        start, end = self.seconds * (quarter - 1) / 4, self.seconds * quarter / 4
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return (max(inside) if inside else self.baseline) - self.baseline


def _sampled(fn: Callable[[], object], every: float = 0.05) -> tuple[float, list[tuple[float, int]]]:
    samples: list[tuple[float, int]] = []
    done = threading.Event()
    start = time.perf_counter()

    def watch() -> None:
        while not done.is_set():
            samples.append((time.perf_counter() - start, process_tree_rss()))
            done.wait(every)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return time.perf_counter() - start, samples


def _write_images(folder: Path, count: int, size: int) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for i in range(count):
        name = f"{i:06d}.png"
        if not (folder / name).is_file():
            colour = rng.integers(0, 256, 3)
            pixels = np.clip(colour + rng.integers(-30, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name)
        names.append(name)
    return names


def run_predict_memory_bench(folder: str | Path, counts: tuple[int, ...] = (2_000, 20_000), size: int = 32,
                             encoder: str = "resnet10t", image_size: int = 32, batch_size: int = 64,
                             workers: int | None = None, log: Callable[[str], None] = print) -> list[PredictMemory]:
    """Predict CSVs of ``counts`` distinct images with one checkpoint, sampling resident memory.

    Args:
        folder: Where the images, checkpoint and predictions go (images are kept for reruns).
        counts: Image counts, smallest first (the first is the reference).
        size: Image side in pixels.
        encoder: timm encoder of the random checkpoint.
        image_size: Network input size.
        batch_size: Images per batch.
        workers: Decoding workers (default: as ``seafloorhmc predict``).
        log: Where progress lines go.

    Returns:
        One measurement per count.
    """
    from ..data.readers.manifest import write_manifest
    from ..prediction.predictor import PredictOptions, write_predictions
    from ..taxonomy import Taxonomy
    from .predict import build_random_checkpoint

    folder = Path(folder)
    log(f"writing up to {max(counts):,} images of {size} px to {folder / 'images'}")
    names = _write_images(folder / "images", max(counts), size)
    taxonomy = Taxonomy.from_paths(TAXA)
    checkpoint = build_random_checkpoint(folder / "model.safetensors", taxonomy, encoder=encoder,
                                         image_size=image_size, members=4, hidden=64, batch_size=batch_size)
    options = PredictOptions(workers=workers, batch_size=batch_size, progress=False, device="cpu")
    results = []
    for count in counts:
        manifest = write_manifest(folder / f"images-{count}.csv",
                                  [{"image": f"images/{n}", "labels": [TAXA[0]]} for n in names[:count]])
        out = folder / f"predictions-{count}.csv"
        gc.collect()
        baseline = process_tree_rss()
        seconds, samples = _sampled(lambda: write_predictions(checkpoint, manifest, out, options,  # noqa: B023
                                                              overwrite=True))
        results.append(PredictMemory(count, seconds, baseline, samples))
        log(f"  {count:,} images: {seconds:.0f} s, peak {results[-1].peak_above_baseline / 2**20:.0f} MiB above "
            f"the start")
    return results


def format_predict_memory(results: list[PredictMemory]) -> str:
    """The predict measurements as a Markdown table, the first count as the reference.

    Args:
        results: :func:`run_predict_memory_bench`'s result.

    Returns:
        The table.
    """
    reference = results[0].peak_above_baseline
    lines = ["| images | seconds | rows/s | peak MiB above start | vs first | quarter peaks MiB (1, 2, 3, 4) |",
             "| ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        quarters = ", ".join(f"{r.quarter_peak(q) / 2**20:.0f}" for q in (1, 2, 3, 4))
        lines.append(f"| {r.images:,} | {r.seconds:.0f} | {r.images / r.seconds:.0f} | "
                     f"{r.peak_above_baseline / 2**20:.0f} | {r.peak_above_baseline / max(reference, 1):.2f}× | "
                     f"{quarters} |")
    return "\n".join(lines)
