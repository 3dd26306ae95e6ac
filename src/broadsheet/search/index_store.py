"""Where the search index is kept between runs: whole snapshots under one directory, one of them current.

A save writes a new `snap-…` directory (keyword index, vectors with their HNSW graph, slot table),
flushes it to disk, and only then names it in `CURRENT`, which is replaced atomically, so a reader
(or a restart after a crash) finds either the old index or the new one, never half of one; the
other snapshots are removed after. Each snapshot notes how far it had caught up with the store
(`synced-until`), so a running worker can tell how much the saved copy misses. One lock file
serialises saving and loading across the workers of `serve` and the CLI, so a snapshot is never
removed while a worker is reading it. A second lock is held while a missing index is built from
the store, so that of the processes starting together, one builds it and the others load its copy.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

from broadsheet.search.embedder import Embedder
from broadsheet.search.engine import HybridSearcher

CURRENT = "CURRENT"
SYNCED_UNTIL = "synced-until"


class IndexStore:
    """The snapshots of the search index under `root` (e.g. `<data dir>/index/search`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def lock(self) -> FileLock:
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(self.root / "index.lock")

    def build_lock(self) -> FileLock:
        """Held while an index is built from the store to be saved here (long: tens of seconds)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(self.root / "build.lock")

    def current(self) -> str | None:
        """The name of the current snapshot, or None when none was saved yet."""
        try:
            name = (self.root / CURRENT).read_text().strip()
        except FileNotFoundError:
            return None
        return name or None

    def load(self, embedder: Embedder | None) -> tuple[HybridSearcher, str] | None:
        """The current snapshot as a searcher, with its name; None when there is none.

        Raises the search errors of `HybridSearcher.load` when it is unusable. Call with `lock()` held.
        """
        name = self.current()
        if name is None:
            return None
        return HybridSearcher.load(self.root / name, embedder), name

    def synced_until(self) -> datetime | None:
        """How far the current snapshot had caught up with the store: it holds every paper changed
        before this time. None when there is no snapshot, or it was saved without one."""
        name = self.current()
        if name is None:
            return None
        try:
            return datetime.fromisoformat((self.root / name / SYNCED_UNTIL).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def save(self, searcher: HybridSearcher, synced_until: datetime | None = None) -> str:
        """Write `searcher` as a new snapshot, make it current and remove the others. Call with `lock()` held.

        `synced_until`: the searcher holds every paper changed before then (see `synced_until()`).
        """
        name = f"snap-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{os.getpid()}"
        try:
            searcher.save(self.root / name)
            if synced_until is not None:
                (self.root / name / SYNCED_UNTIL).write_text(synced_until.isoformat() + "\n")
            _sync_tree(self.root / name)  # on disk before it is named: a crash never leaves a half-written current
        except BaseException:
            shutil.rmtree(self.root / name, ignore_errors=True)
            raise
        pointer = self.root / f"{CURRENT}.tmp"
        pointer.write_text(name + "\n")
        _sync_file(pointer)
        os.replace(pointer, self.root / CURRENT)
        _sync_file(self.root)
        for old in self.root.glob("snap-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        return name


def _sync_tree(path: Path) -> None:
    for directory, _, files in os.walk(path):
        for name in files:
            _sync_file(Path(directory) / name)
        _sync_file(Path(directory))


def _sync_file(path: Path) -> None:
    """fsync a file or a directory (so that a rename or a new entry in it is durable too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
