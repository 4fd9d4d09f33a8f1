"""The HNSW index of a space: kept current by writers, never built by a search.

Writers keep the sidecar current at write time. The write that takes a space to its ANN
threshold builds it (reporting progress through ``on_progress``); later writes apply their
changes to it incrementally once enough have gathered (``pending_limit``) and save it. Only
one process updates a sidecar at a time (a lock file beside it); a writer that finds the
lock taken leaves its changes to the process holding it, or to the next write.

A search only reads: the saved graph, memory-mapped; rows deleted since it was saved are
skipped (tombstones), and rows added since are searched exactly and merged in. So every
search, in any process, sees every committed row, and none of them pays for a build. With
no usable sidecar (never built, deleted, damaged) a search says so and searches exactly;
the next write, or ``Space.optimize()``, builds it.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from embedspace.store.database import Changes, changes_since, data_version
from embedspace.store.exact import VectorTable
from embedspace.store.hnsw import (
    INDEX_FILE,
    REBUILD_DEAD_FRACTION,
    DamagedIndex,
    HnswIndex,
    SidecarStamp,
)

log = logging.getLogger("embedspace")

#: ``on_progress(stage, done, total)``: the shape of ``embedspace.progress``'s callback.
ProgressCallback = Callable[[str, int, "int | None"], None]
LOCK_FILE = ".hnsw.lock"
#: A sidecar may lag this many changes behind before a writer applies them (see
#: ``pending_limit``).
PENDING_MIN = 1000
#: Update rounds one writer makes while other writers keep adding.
_MAX_ROUNDS = 3


def pending_limit(count: int) -> int:
    """How many committed changes a sidecar may lag behind a space of ``count`` items.

    Few enough that a search covers them exactly in milliseconds; many enough that small
    writes do not each rewrite a file as large as all the space's vectors.
    """
    return max(PENDING_MIN, count // 100)


class AnnIndex:
    """The HNSW sidecar of one space folder, as this process sees and maintains it."""

    def __init__(self, folder: Path, name: str, dim: int, metric: str) -> None:
        self.folder, self.name, self.dim, self.metric = folder, name, dim, metric
        self._graph: HnswIndex | None = None  # the sidecar as last read or saved here
        self._recent = VectorTable(dim)  # rows committed after the graph's max_rowid
        self._refused: tuple[int, int] | None = None  # (mtime, size) of an unusable stamp
        self._reported: set[str] = set()  # warnings already given by this process

    @property
    def exists(self) -> bool:
        """Whether a sidecar file is there (sound or not)."""
        return (self.folder / INDEX_FILE).exists()

    def close(self) -> None:
        """Let go of the graph (memory, and the mapping of the file)."""
        self._graph = None
        self._recent = VectorTable(self.dim)

    # ------------------------------------------------------------------- searching
    def search(
        self,
        connection: sqlite3.Connection,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Rowids and scores (best first, rowid -1 where fewer were found) of about the
        ``k`` best rows per query among all committed rows, or only ``allowed`` (sorted
        rowids). ``None`` when there is no usable sidecar: the caller searches exactly."""
        graph = self._readable(connection)
        if graph is None:
            return None
        rowids, scores = graph.search(queries, k, allowed=allowed)
        if not len(self._recent):
            return rowids, scores
        extra_rowids, extra_scores = self._recent.search(queries, k, self.metric, allowed=allowed)
        rowids = np.concatenate([rowids, extra_rowids], axis=1)
        scores = np.concatenate([scores, extra_scores], axis=1)
        scores = np.where(rowids >= 0, scores, -np.inf)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(rowids, order, 1), np.take_along_axis(scores, order, 1)

    @contextlib.contextmanager
    def reading_ahead(self) -> Iterator[None]:
        """Read the sidecar on a second thread while the block runs (a query being
        embedded): a fresh process then loads faiss and maps the graph while the model
        starts, instead of after. Nothing else touches this index until the block ends."""
        if self._graph is not None or not self.exists:
            yield
            return
        thread = threading.Thread(target=self._read_quietly, name="embedspace-read-ahead")
        thread.start()
        try:
            yield
        finally:
            thread.join()

    def _read_quietly(self) -> None:
        # Any failure here is met again, and reported, by the search that follows.
        with contextlib.suppress(Exception):
            self._load_for_reading()

    def _readable(self, connection: sqlite3.Connection) -> HnswIndex | None:
        version = data_version(connection)
        if self._graph is None or (
            len(self._recent) >= pending_limit(len(self._graph.rowids)) and self._newer_on_disk()
        ):
            self._load_for_reading()
        graph = self._graph
        if graph is None:
            return None
        if self._recent.version != version:
            changes = self._recent.refresh(connection, version)
            if changes is not None and len(changes.deleted):
                graph.apply(
                    Changes(
                        changes.version, changes.rowids[:0], changes.vectors[:0], changes.deleted
                    )
                )
        if len(self._recent) > 10 * pending_limit(len(graph.rowids)):
            self._warn_once(
                "behind",
                "The HNSW index of '%s' lacks %d recent items (a writer stopped before "
                "updating it); they are searched exactly. Space.optimize() brings it up to "
                "date.",
                self.name,
                len(self._recent),
            )
        return graph

    def _newer_on_disk(self) -> bool:
        try:
            stamp = HnswIndex.peek(self.folder)
        except DamagedIndex:
            return False
        return (
            stamp is not None and self._graph is not None and stamp.graph != self._graph.graph_name
        )

    def _stamp_signature(self) -> tuple[int, int] | None:
        try:
            stat = (self.folder / INDEX_FILE).stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _load_for_reading(self) -> None:
        signature = self._stamp_signature()
        if signature is not None and signature == self._refused:
            return  # the same unusable file as last time: don't check it again
        try:
            try:
                graph = HnswIndex.load(self.folder, self.dim, self.metric, mapped=True)
            except DamagedIndex:
                if self._stamp_signature() == signature:
                    raise
                # A writer replaced the sidecar while it was being read: read the new one.
                signature = self._stamp_signature()
                graph = HnswIndex.load(self.folder, self.dim, self.metric, mapped=True)
        except DamagedIndex as error:
            self._refused = signature
            self._warn_once(
                "damaged",
                "The HNSW index of '%s' is damaged (%s); searching exactly until it is "
                "rebuilt (Space.optimize(), or the next write from this process).",
                self.name,
                error,
            )
            return
        if graph is None:
            self._warn_once(
                "missing",
                "Space '%s' has no HNSW index yet; searching exactly. Space.optimize() "
                "builds it (writes keep it up to date from then on).",
                self.name,
            )
            return
        self._refused = None
        self._graph = graph
        self._recent = VectorTable(self.dim, after_rowid=graph.max_rowid, version=graph.version)

    def _warn_once(self, kind: str, message: str, *args: object) -> None:
        if kind not in self._reported:
            self._reported.add(kind)
            log.warning(message, *args)

    # --------------------------------------------------------------------- writing
    def after_write(
        self,
        connection: sqlite3.Connection,
        count: int,
        threshold: int,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        """Keep the sidecar current after a committed write that left ``count`` items:
        build it when the space reaches ``threshold``, apply pending changes once there
        are enough, and leave it to another process that is updating it already."""
        if count < threshold and not self.exists:
            return
        try:
            self.update(connection, count, force=False, wait=False, on_progress=on_progress)
        except OSError as error:  # the write itself is committed: say so, don't fail it
            log.warning(
                "Could not update the HNSW index of '%s' (%s). Searches still see every item "
                "(those it lacks exactly); Space.optimize() retries.",
                self.name,
                error,
            )

    def update(
        self,
        connection: sqlite3.Connection,
        count: int,
        *,
        force: bool,
        wait: bool,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        """Build the sidecar, or apply what it lacks (all of it if ``force``, else once
        ``pending_limit`` is reached), and save it. ``wait``: wait for another process that
        holds the update lock instead of leaving the work to it."""
        with _update_lock(self.folder / LOCK_FILE, wait=wait) as locked:
            if not locked:
                return
            for leftover in self.folder.glob(".hnsw-*.tmp"):  # from a writer killed mid-save
                with contextlib.suppress(OSError):
                    leftover.unlink()
            for _ in range(_MAX_ROUNDS):
                if not self._update_once(connection, count, force, on_progress):
                    break

    def _update_once(
        self,
        connection: sqlite3.Connection,
        count: int,
        force: bool,
        on_progress: ProgressCallback | None,
    ) -> bool:
        """One round of ``update``; returns whether it changed the sidecar."""
        graph = self._sound_graph(force)
        if graph is None:
            self._save(self._build(connection, on_progress))
            return True
        pending = _pending(connection, graph.version, graph.max_rowid)
        if isinstance(graph, HnswIndex):
            pending += graph.unsaved  # deletions a search here applied, not yet saved
        if pending == 0 or (pending < pending_limit(count) and not force):
            return False
        if isinstance(graph, SidecarStamp):
            try:
                graph = HnswIndex.load(self.folder, self.dim, self.metric)
            except DamagedIndex as error:
                self._warn_rebuild(error)
                graph = None
            if graph is None:
                self._save(self._build(connection, on_progress))
                return True
        changes = changes_since(connection, graph.version, graph.max_rowid, self.dim)
        stage = f"Updating the HNSW index of {self.name}"
        graph.apply(changes, progress=_reporter(on_progress, stage))
        if graph.dead_fraction > REBUILD_DEAD_FRACTION:
            graph = self._build(connection, on_progress)
        self._save(graph)
        return True

    def _sound_graph(self, verify: bool) -> HnswIndex | SidecarStamp | None:
        """The saved sidecar as far as a writer needs to know it: the graph this process
        holds if it is the saved one, else the saved stamp (``verify``: the whole sidecar,
        checksums included); ``None`` if it is missing or damaged."""
        try:
            stamp = HnswIndex.peek(self.folder)
            if stamp is None:
                return None
            if self._graph is not None and self._graph.graph_name == stamp.graph:
                return self._graph
            stat = (self.folder / INDEX_FILE).stat()
            if self._refused == (stat.st_mtime_ns, stat.st_size):
                raise DamagedIndex("a search found it unsound")
            try:
                size = (self.folder / stamp.graph).stat().st_size
            except FileNotFoundError:
                raise DamagedIndex("graph file missing") from None
            if size != stamp.graph_bytes:
                raise DamagedIndex("graph file size mismatch")
            if verify:
                return HnswIndex.load(self.folder, self.dim, self.metric)
        except DamagedIndex as error:
            self._warn_rebuild(error)
            return None
        return stamp

    def _warn_rebuild(self, error: DamagedIndex) -> None:
        log.warning("The HNSW index of '%s' is damaged (%s); rebuilding it.", self.name, error)

    def _build(
        self, connection: sqlite3.Connection, on_progress: ProgressCallback | None
    ) -> HnswIndex:
        changes = changes_since(connection, 0, 0, self.dim)
        stage = f"Building the HNSW index of {self.name}"
        log.info("%s (%d items).", stage, len(changes.rowids))
        graph = HnswIndex(self.dim, self.metric)
        if on_progress is not None:
            on_progress(stage, 0, len(changes.rowids))
        graph.apply(changes, progress=_reporter(on_progress, stage))
        return graph

    def _save(self, graph: HnswIndex) -> None:
        graph.save(self.folder)
        self._graph = graph
        self._recent = VectorTable(self.dim, after_rowid=graph.max_rowid, version=graph.version)
        self._refused = None


def _pending(connection: sqlite3.Connection, version: int, max_rowid: int) -> int:
    """Committed changes a sidecar at ``version`` / ``max_rowid`` does not have."""
    added = connection.execute("SELECT count(*) FROM items WHERE rowid > ?", (max_rowid,))
    deleted = connection.execute(
        "SELECT count(*) FROM deletions WHERE version > ? AND rowid <= ?", (version, max_rowid)
    )
    return int(added.fetchone()[0]) + int(deleted.fetchone()[0])


def _reporter(
    on_progress: ProgressCallback | None, stage: str
) -> Callable[[int, int], None] | None:
    if on_progress is None:
        return None
    return lambda done, total: on_progress(stage, done, total)


@contextlib.contextmanager
def _update_lock(path: Path, *, wait: bool) -> Iterator[bool]:
    """An exclusive lock on ``path`` for as long as the block runs (released by the OS if
    the process dies); yields ``False`` at once when another process holds it and
    ``wait`` is false."""
    with open(path, "a+b") as handle:
        if not _lock(handle, wait):
            yield False
            return
        try:
            yield True
        finally:
            _unlock(handle)


def _lock(handle: IO[bytes], wait: bool) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _unlock(handle: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
