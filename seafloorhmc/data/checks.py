"""Data checked before the first epoch: every image decoded once, labels that look like typos.

**Images.** :func:`check_images` opens every image of every split the way training will (header,
pixel limit, full decode: :func:`~seafloorhmc.data.images.decode_image`), in worker processes,
with a progress bar, and returns every unreadable file with its reason at once, so six bad files
cost one run, not six, and a bad *test* image is found before training instead of after it.
Verdicts are cached in one SQLite file keyed by (absolute path, size, modification time, decode
settings): a rerun, or another run on the same images, checks only files that changed.

**Labels.** :func:`label_lookalikes` finds label paths that differ only in case or spacing
(``Biota > Fishes`` vs ``biota > fishes`` or ``Biota>Fishes``), which would otherwise silently
become two taxa; :func:`unknown_labels` lists labels a label tree does not have, in the user's
separator, each with the closest node it does have.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..labels import PATH_ID_SEP
from .images import BadImageError, decode_image

__all__ = ["BAD_IMAGE_HINT", "BadImagesError", "ImageCheck", "ImageCheckCache", "check_images",
           "default_check_cache", "default_check_workers", "LabelLookalike", "label_lookalikes",
           "separator_in_names", "unknown_labels", "display_path", "image_changed_since_check"]

log = logging.getLogger(__name__)

#: What to do about unreadable images; every message about one ends with it.
BAD_IMAGE_HINT = ("set data.skip_bad_images=true to leave unreadable images out of every split, or "
                  "data.allow_truncated=true to accept truncated files (their missing part is grey)")
CHECK_VERSION = 1  # bump when what a check verifies changes: older cached verdicts are then ignored
_SHOWN = 10  # bad files named in one message
_PARALLEL_FROM = 16  # fewer images are checked in this process (worker start-up would dominate)
_COMMIT_EVERY = 2.0  # seconds between cache commits, so an interrupted check keeps most of its work


class BadImagesError(ValueError):
    """Unreadable images found before training; the message lists them (all, up to a point) with reasons.

    Args:
        bad: Path → reason, for every unreadable image.
        listing: A file that lists all of them (named in the message).
    """

    def __init__(self, bad: Mapping[str, str], listing: str | Path | None = None) -> None:
        self.bad = dict(bad)
        self.listing = None if listing is None else Path(listing)
        shown = "; ".join(f"{path}: {reason}" for path, reason in list(self.bad.items())[:_SHOWN])
        more = len(self.bad) - _SHOWN
        rest = f"; and {more} more" if more > 0 else ""
        where = f" (all listed in {self.listing})" if self.listing is not None else ""
        super().__init__(f"{len(self.bad)} unreadable image{'s' if len(self.bad) != 1 else ''}{where}: "
                         f"{shown}{rest} — {BAD_IMAGE_HINT}")

    def listed_in(self, listing: str | Path) -> BadImagesError:
        """The same error, naming the file that lists every bad image.

        Args:
            listing: The file.

        Returns:
            A new error.
        """
        return BadImagesError(self.bad, listing)


@dataclass
class ImageCheck:
    """What :func:`check_images` found.

    Attributes:
        bad: Unreadable images: path → reason.
        truncated: Truncated images accepted with ``allow_truncated`` (their missing part is grey).
        checked: Images decoded by this call.
        cached: Images answered from the cache.
    """

    bad: dict[str, str] = field(default_factory=dict)
    truncated: list[str] = field(default_factory=list)
    checked: int = 0
    cached: int = 0


def default_check_cache() -> Path:
    """Where verdicts are cached: ``$SEAFLOORHMC_DATA/image_checks.sqlite``, else under ``~/.cache/seafloorhmc``.

    Returns:
        The SQLite file (the feature cache's default root, so one variable moves both).
    """
    base = Path(os.environ.get("SEAFLOORHMC_DATA", Path.home() / ".cache" / "seafloorhmc")).expanduser()
    return base / "image_checks.sqlite"


def default_check_workers() -> int:
    """Processes that decode images during the check: the cores this process may use, 1-8.

    Returns:
        The number of worker processes.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cores))


class ImageCheckCache:
    """Verdicts of earlier checks in one SQLite file; any problem with the file only costs a recheck.

    Several processes may share it (sweep cells checking the same images at once): SQLite locks the
    file for each write, and readers wait up to ``timeout`` seconds.

    Args:
        path: The SQLite file (created with its folder).
        timeout: Seconds to wait for another process's write.
    """

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=timeout)
            self._db.execute("CREATE TABLE IF NOT EXISTS checks (path TEXT, settings TEXT, size INTEGER, "
                             "mtime_ns INTEGER, verdict TEXT, PRIMARY KEY (path, settings))")
            self._db.commit()
        except (OSError, sqlite3.Error) as err:
            self._disable(err)

    def _disable(self, err: Exception) -> None:
        log.warning("image check cache %s is not usable (%s); images are checked without it", self.path, err)
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None

    def lookup(self, keys: Mapping[str, tuple[int, int]], settings: str) -> dict[str, str]:
        """Cached verdicts of files whose size and modification time are unchanged.

        Args:
            keys: Absolute path → (size, mtime_ns) as the file is now.
            settings: The decode settings the verdicts must have been made with.

        Returns:
            Path → verdict (``""`` readable, ``"truncated"``, or ``"bad:<reason>"``).
        """
        found: dict[str, str] = {}
        if self._db is None or not keys:
            return found
        paths = list(keys)
        try:
            for start in range(0, len(paths), 500):
                chunk = paths[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT path, size, mtime_ns, verdict FROM checks WHERE settings = ? AND "
                                        f"path IN ({marks})", [settings, *chunk])
                for path, size, mtime_ns, verdict in rows:
                    if keys[path] == (size, mtime_ns):
                        found[path] = verdict
        except sqlite3.Error as err:
            self._disable(err)
            return {}
        return found

    def store(self, rows: Iterable[tuple[str, int, int, str]], settings: str) -> None:
        """Remember verdicts.

        Args:
            rows: (absolute path, size, mtime_ns, verdict).
            settings: The decode settings they were made with.
        """
        if self._db is None:
            return
        try:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO checks VALUES (?, ?, ?, ?, ?)",
                                     [(p, settings, s, m, v) for p, s, m, v in rows])
        except sqlite3.Error as err:
            self._disable(err)

    def close(self) -> None:
        """Close the file."""
        if self._db is not None:
            self._db.close()
            self._db = None


def _verdict(path: str, max_pixels: int | None, allow_truncated: bool) -> str:
    """Decode one image as training will: ``""``, ``"truncated"`` or ``"bad:<reason>"``."""
    try:
        decoded = decode_image(path, max_pixels, allow_truncated)
    except BadImageError as err:
        return f"bad:{err.reason}"
    return "truncated" if decoded.truncated else ""


def _verdict_task(task: tuple[str, int | None, bool]) -> str:
    return _verdict(*task)


def _stat(path: str) -> tuple[int, int] | str:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except OSError as err:
        return err.strerror or str(err)
    if not os.path.isfile(path):
        return "not a file"
    return info.st_size, info.st_mtime_ns


def check_images(paths: Iterable[str], max_pixels: int | None = None, allow_truncated: bool = False,
                 workers: int | None = None, progress: bool = True,
                 cache: ImageCheckCache | str | Path | None = None) -> ImageCheck:
    """Decode every image once, as training will, and say which cannot be used and why.

    Args:
        paths: Image files (duplicates are checked once).
        max_pixels: Decompression-bomb limit (``data.max_image_pixels``; None: none).
        allow_truncated: Accept truncated files (``data.allow_truncated``).
        workers: Decoding processes (default :func:`default_check_workers`; 0 or 1: this process).
        progress: Show a progress bar (on a terminal only).
        cache: An :class:`ImageCheckCache`, its file, or None for no cache.

    Returns:
        The bad and truncated files, and how many were decoded or answered from the cache.
    """
    unique = list(dict.fromkeys(str(p) for p in paths))
    result = ImageCheck()
    settings = f"v{CHECK_VERSION}|max_pixels={max_pixels}|allow_truncated={allow_truncated}"
    stats: dict[str, tuple[int, int]] = {}
    for path in unique:
        stat = _stat(path)
        if isinstance(stat, str):
            result.bad[path] = stat
        else:
            stats[path] = stat
    owned = cache is not None and not isinstance(cache, ImageCheckCache)
    store: ImageCheckCache | None
    if cache is None or isinstance(cache, ImageCheckCache):
        store = cache
    else:
        store = ImageCheckCache(cache)
    absolute = {path: os.path.abspath(path) for path in stats}
    try:
        known = store.lookup({absolute[p]: s for p, s in stats.items()}, settings) if store is not None else {}
        todo = [p for p in stats if absolute[p] not in known]
        verdicts = {p: known[absolute[p]] for p in stats if absolute[p] in known}
        result.cached = len(verdicts)
        verdicts.update(_decode_all(todo, max_pixels, allow_truncated, workers, progress, store, settings,
                                    stats, absolute))
        result.checked = len(todo)
    finally:
        if owned and store is not None:
            store.close()
    for path in unique:
        verdict = verdicts.get(path)
        if verdict is None:
            continue
        if verdict.startswith("bad:"):
            result.bad[path] = verdict[4:]
        elif verdict == "truncated":
            result.truncated.append(path)
    result.bad = {p: result.bad[p] for p in unique if p in result.bad}  # input order
    return result


def _decode_all(todo: Sequence[str], max_pixels: int | None, allow_truncated: bool, workers: int | None,
                progress: bool, store: ImageCheckCache | None, settings: str, stats: Mapping[str, tuple[int, int]],
                absolute: Mapping[str, str]) -> dict[str, str]:
    """Verdicts of ``todo``, in worker processes when there are enough, stored as they come."""
    verdicts: dict[str, str] = {}
    if not todo:
        return verdicts
    workers = default_check_workers() if workers is None else workers
    log.info("checking %d image%s (each decoded once; the verdicts are cached for later runs)", len(todo),
             "s" if len(todo) > 1 else "")
    bar = tqdm(total=len(todo), desc="checking images", unit="image", disable=None if progress else True)
    pending: list[tuple[str, int, int, str]] = []
    last_commit = time.monotonic()

    def record(path: str, verdict: str) -> None:
        nonlocal last_commit
        verdicts[path] = verdict
        pending.append((absolute[path], *stats[path], verdict))
        bar.update(1)
        if store is not None and time.monotonic() - last_commit > _COMMIT_EVERY:
            store.store(pending, settings)
            pending.clear()
            last_commit = time.monotonic()

    tasks = [(path, max_pixels, allow_truncated) for path in todo]
    try:
        if workers > 1 and len(todo) >= _PARALLEL_FROM:
            chunk = max(1, min(64, len(todo) // (workers * 8)))
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for path, verdict in zip(todo, pool.map(_verdict_task, tasks, chunksize=chunk)):
                    record(path, verdict)
        else:
            for task in tasks:
                record(task[0], _verdict_task(task))
    finally:
        bar.close()
        if store is not None and pending:
            store.store(pending, settings)
    return verdicts


# ---------------------------------------------------------------------------------------------- labels
def display_path(label_id: str, sep: str) -> str:
    """A node id (components joined by ``/``) as the user writes it.

    Args:
        label_id: The node id.
        sep: The user's separator (``data.separator``).

    Returns:
        ``Biota > Fishes`` for ``Biota/Fishes`` and ``" > "``.
    """
    return sep.join(label_id.split(PATH_ID_SEP))


def _squeeze(text: str) -> str:
    return "".join(text.split()).casefold()


@dataclass(frozen=True)
class LabelLookalike:
    """Two spellings of what is probably one taxon.

    Attributes:
        first: The spelling seen first, as the user writes it (the prefix where they differ).
        second: The other spelling.
        first_example: A full label with the first spelling, and where it is (``file:row``).
        second_example: The same for the second spelling.
    """

    first: str
    second: str
    first_example: tuple[str, str]
    second_example: tuple[str, str]

    def message(self) -> str:
        """The warning naming both labels.

        Returns:
            One line.
        """
        (a, a_where), (b, b_where) = self.first_example, self.second_example
        at = "" if (a, b) == (self.first, self.second) else f" ({self.first!r} vs {self.second!r})"
        return (f"labels {a!r} ({a_where}) and {b!r} ({b_where}) differ only in case or spacing{at}; they become "
                "separate taxa — correct the spelling if they mean the same one")


def label_lookalikes(paths: Iterable[tuple[Sequence[str], str]], sep: str) -> list[LabelLookalike]:
    """Label paths (or their prefixes) that differ only in case or whitespace.

    Compared as the user wrote them, joined with ``sep``, without whitespace and case, so
    ``Biota>Fishes`` (one component) matches ``Biota > Fishes`` (two). A pair is reported at the
    shortest prefix where the spellings part; deeper pairs under it are the same typo.

    Args:
        paths: (path components, where it is) per label, e.g. from annotation records.
        sep: The user's separator (``data.separator``).

    Returns:
        One entry per pair of spellings, in order of first appearance.
    """
    spellings: dict[str, dict[str, tuple[str, str]]] = {}
    seen: set[tuple[str, ...]] = set()
    parent_of: dict[str, str | None] = {}
    for components, where in paths:
        components = tuple(components)
        if components in seen:
            continue
        seen.add(components)
        full = sep.join(components)
        for depth in range(1, len(components) + 1):
            display = sep.join(components[:depth])
            parent_of.setdefault(display, sep.join(components[:depth - 1]) if depth > 1 else None)
            spellings.setdefault(_squeeze(display), {}).setdefault(display, (full, where))
    def inherited(a: str, b: str) -> bool:
        """Whether a and b differ only because their parents are look-alikes (reported there)."""
        pa, pb = parent_of.get(a), parent_of.get(b)
        return pa is not None and pb is not None and pa != pb and _squeeze(pa) == _squeeze(pb)

    found = []
    for group in spellings.values():
        names = list(group)
        for other in names[1:]:
            if not inherited(names[0], other):
                found.append(LabelLookalike(names[0], other, group[names[0]], group[other]))
    return found


def separator_in_names(paths: Iterable[tuple[Sequence[str], str]], sep: str) -> tuple[str, str] | None:
    """A label whose names contain the separator without its spaces (``Biota>Fishes`` with ``" > "``).

    Args:
        paths: (path components, where it is) per label.
        sep: The user's separator.

    Returns:
        (label as written, where) of the first such label, or None.
    """
    bare = sep.strip()
    if not bare or bare == sep:
        return None
    for components, where in paths:
        if any(bare in name for name in components):
            return sep.join(components), where
    return None


def unknown_labels(labels: Iterable[tuple[str, str]], known: Iterable[str], sep: str,
                   is_known=None) -> list[str]:
    """Labels missing from a label tree, each as the user writes it with the closest known node.

    Args:
        labels: (node id, where it is) per label used by the data.
        known: The node ids of the label tree.
        sep: The user's separator.
        is_known: ``is_known(node id)`` → bool (default: membership in ``known``); lets a
            taxonomy also accept unique names.

    Returns:
        One description per distinct unknown label (``'Biota > fishes' (manifest.csv:7; did you
        mean 'Biota > Fishes'?)``), in order of first appearance.
    """
    known = list(known)
    members = set(known)
    is_known = is_known or members.__contains__
    shown = {display_path(k, sep): k for k in known}
    squeezed = {_squeeze(name): name for name in shown}
    out, seen = [], set()
    for label, where in labels:
        if label in seen or is_known(label):
            continue
        seen.add(label)
        display = display_path(label, sep)
        guess = squeezed.get(_squeeze(display)) or next(iter(difflib.get_close_matches(display, shown, n=1)), None)
        hint = f"; did you mean {guess!r}?" if guess else ""
        out.append(f"{display!r} ({where}{hint})")
    return out


_WRAPPED = re.compile(r"BadImageError: cannot read image (?P<path>.+?): (?P<reason>.+)$", re.MULTILINE)


def image_changed_since_check(err: BaseException) -> BadImageError | None:
    """The error to show for an image that failed while running although it passed the check before.

    A DataLoader worker's ``BadImageError`` reaches the main process as a ``RuntimeError`` holding
    the worker's traceback; both forms are recognised.

    Args:
        err: What the training or evaluation loop raised.

    Returns:
        A :class:`~seafloorhmc.data.images.BadImageError` naming the file, that it changed since
        the check, and :data:`BAD_IMAGE_HINT`; None if ``err`` is about something else.
    """
    if isinstance(err, BadImageError):
        path, reason = err.path, err.reason
    else:
        found = _WRAPPED.search(str(err)) if "BadImageError" in str(err) else None
        if found is None:
            return None
        path, reason = found["path"], found["reason"].strip()
    return BadImageError(path, f"{reason} (the file changed after the check before training) — {BAD_IMAGE_HINT}")
