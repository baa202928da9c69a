"""A folder of shards listed in one manifest, shared by processes: what the feature and image caches store in.

The manifest (``manifest.json``: version, the settings' description, the next shard number and the
shards) is rewritten atomically after each shard is written, so a reader never sees a shard listed
before it is complete. Processes that add shards hold the folder's ``flock`` while they do.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from .atomic import write_json

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no cross-process lock, each process writes its own shards
    fcntl = None  # type: ignore[assignment]

__all__ = ["ManifestFolder", "MANIFEST"]

MANIFEST = "manifest.json"

Store = TypeVar("Store", bound="ManifestFolder")


class ManifestFolder:
    """One cache key's folder: its lock and its manifest.

    Subclasses name their manifest ``version`` and say, for the log, what an unreadable manifest
    means (``unreadable``: e.g. "encoding this folder's samples again").

    Args:
        folder: The key's folder (created when first locked).
        description: The settings' description, recorded in a new manifest.
    """

    version = 1
    kind = "cache"
    unreadable = "building this folder again"

    def __init__(self, folder: str | Path, description: dict | None = None) -> None:
        self.folder = Path(folder)
        self.description = description
        self._manifest: dict | None = None

    @contextlib.contextmanager
    def locked(self: Store) -> Iterator[Store]:
        """Hold the folder's lock (other processes using it wait here).

        Yields:
            The store, with its manifest re-read.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._manifest = None  # another process may have added shards meanwhile
                yield self
            finally:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def manifest(self) -> dict:
        """The folder's manifest, read once (a fresh one when absent or unreadable)."""
        if self._manifest is None:
            self._manifest = self._read_manifest()
        return self._manifest

    def save_manifest(self) -> None:
        """Rewrite the manifest atomically (after a shard is written or dropped)."""
        write_json(self.folder / MANIFEST, self.manifest)

    def _fresh_manifest(self) -> dict:
        return {"version": self.version, "description": self.description, "next": 0, "shards": []}

    def _read_manifest(self) -> dict:
        path = self.folder / MANIFEST
        if not path.is_file():
            return self._fresh_manifest()
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if manifest.get("version") != self.version or not isinstance(manifest.get("shards"), list):
                raise ValueError(f"version {manifest.get('version')!r}, expected {self.version}")
            return manifest
        except (ValueError, OSError, AttributeError) as err:
            logging.getLogger(type(self).__module__).warning(  # in the log of the cache that owns the folder
                "%s: %s is unreadable (%s); %s", self.kind, path, err, self.unreadable)
            return self._fresh_manifest()
