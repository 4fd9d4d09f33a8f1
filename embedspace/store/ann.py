"""The HNSW index of a space: kept current by writers, never built by a search.

Writers keep the sidecar current at write time. The write that takes a space to its ANN
threshold builds it (reporting progress through ``on_progress``); later writes apply their
changes to it incrementally once enough have gathered (``pending_limit``) and save it. Only
one process updates a sidecar at a time (``update_lock.py``); a writer that finds the lock
taken leaves its changes to the process holding it, or to the next write.

A search only reads: the saved graph, memory-mapped; rows deleted since it was saved are
skipped (tombstones), and rows added since are searched exactly and merged in. That tail is
bounded (writers save every ``pending_limit`` changes, and a reader whose tail has grown
that long maps the newer graph), so readers never re-insert rows into a graph and never
starve while writers write. Every search, in any process, sees every committed row.

The sidecar is only used while it belongs to the database (``lineage.py``: same space id,
and the database's token for the sidecar's data version is the one it was built at);
anything else (a restored ``space.db``, a lost ``-wal``, another space's sidecar) is
reported with a warning and the index is rebuilt from the database: by the next write or
``Space.optimize()``, searching exactly until then. With no usable sidecar (never built,
deleted, damaged) a search says so and searches exactly. A space that cannot be written
here (read-only disk or folder), or a save the disk refuses, keeps the graph in memory for
this process instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from embedspace.store.database import Changes, changes_since, data_version, space_id
from embedspace.store.exact import VectorTable
from embedspace.store.hnsw import (
    INDEX_FILE,
    REBUILD_DEAD_FRACTION,
    TEMP_PATTERN,
    DamagedIndex,
    HnswIndex,
    SidecarStamp,
    remove_leftovers,
)
from embedspace.store.lineage import binding_problem
from embedspace.store.rescoring import candidates_for, rescore
from embedspace.store.update_lock import LOCK_FILE, update_lock

log = logging.getLogger("embedspace")

#: ``on_progress(stage, done, total)``: the shape of ``embedspace.progress``'s callback.
ProgressCallback = Callable[[str, int, "int | None"], None]
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

    def __init__(self, folder: Path, name: str, dim: int, metric: str, kind: str = "hnsw") -> None:
        self.folder, self.name, self.dim, self.metric = folder, name, dim, metric
        self.kind = kind  # database.ANN_KINDS: how the graph holds the vectors
        self._graph: HnswIndex | None = None  # the sidecar as last read or saved here
        self._recent = VectorTable(dim)  # rows committed after the graph's max_rowid
        self._signature: tuple[int, int] | None = None  # (mtime, size) of the graph's stamp
        self._refused: tuple[int, int] | None = None  # (mtime, size) of an unusable stamp
        self._refusal = ""  # why it was refused
        self._reported: set[str] = set()  # warnings already given by this process
        self._tidy()

    @property
    def exists(self) -> bool:
        """Whether a sidecar file is there (sound or not)."""
        return (self.folder / INDEX_FILE).exists()

    def close(self) -> None:
        """Let go of the graph (memory, and the mapping of the file)."""
        self._graph = None
        self._recent = VectorTable(self.dim)

    def _tidy(self) -> None:
        """Remove what killed saves left behind (temp files, unnamed graphs), unless a save
        is running now (it holds the update lock) or the folder cannot be written."""
        if not any(self.folder.glob(TEMP_PATTERN)):
            return
        with (
            contextlib.suppress(OSError),
            update_lock(self.folder / LOCK_FILE, wait=False) as locked,
        ):
            if locked:
                remove_leftovers(self.folder)

    # ------------------------------------------------------------------- searching
    def search(
        self,
        connection: sqlite3.Connection,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
        exact: bool = False,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Rowids and scores (best first, rowid -1 where fewer were found) of about the
        ``k`` best rows per query among all committed rows, or only ``allowed`` (sorted
        rowids). ``None`` when there is no usable sidecar: the caller searches exactly. A
        quantised graph's candidates are re-scored from the vectors in SQLite.

        ``exact``: the exact answer, over the vectors the sidecar holds (memory-mapped) and
        the recent rows; ``None`` also when the sidecar holds codes, not vectors (the
        caller reads the vectors from SQLite then), and never a graph built for it."""
        if exact and (not self.exists or self.kind != "hnsw"):
            return None
        graph = self._readable(connection, build=not exact)
        if graph is None:
            return None
        if exact:
            rowids, scores = graph.exact_search(queries, k, allowed=allowed)
        elif graph.quantised:
            rowids, _ = graph.search(queries, candidates_for(k), allowed=allowed)
            rowids, scores = rescore(connection, queries, rowids, k, self.metric, self.dim)
        else:
            rowids, scores = graph.search(queries, k, allowed=allowed)
        return self._with_recent(queries, k, rowids, scores, allowed)

    def _with_recent(
        self,
        queries: np.ndarray,
        k: int,
        rowids: np.ndarray,
        scores: np.ndarray,
        allowed: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The graph's results merged with the recent rows' (searched exactly)."""
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

    def _readable(self, connection: sqlite3.Connection, *, build: bool = True) -> HnswIndex | None:
        """The graph to search, with ``_recent`` holding what it lacks; ``None``: search
        exactly. The database's version is read after the sidecar, so a sidecar saved
        meanwhile is never mistaken for one ahead of its database. ``build``: where the
        space cannot be written here, build the graph in memory (else ``None``)."""
        if self._graph is None or (
            len(self._recent) >= pending_limit(len(self._graph.rowids)) and self._newer_on_disk()
        ):
            self._load_for_reading()
        version = data_version(connection)
        if self._graph is not None and not self._belongs(connection, self._graph, version):
            self.close()  # what this process held no longer matches: read the file again
            self._load_for_reading()
            if self._graph is not None and not self._belongs(connection, self._graph, version):
                self._refused, self._graph = self._signature, None
                self._refusal = "it does not match its database"
        if build and self._graph is None and self._cannot_save(connection):
            self._build_in_memory(connection)
        graph = self._graph
        if graph is None:
            return None
        if self._recent.version != version:
            changes = self._recent.refresh(connection, version)
            if changes is not None and len(changes.deleted):
                graph.apply(
                    Changes(
                        changes.version,
                        changes.rowids[:0],
                        changes.vectors[:0],
                        changes.deleted,
                        changes.token,
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

    def _belongs(self, connection: sqlite3.Connection, graph: HnswIndex, version: int) -> bool:
        """Whether ``graph`` and the recent rows held with it belong to the database at data
        ``version`` (warns if not: the problem, and that the index is rebuilt from it)."""
        held = self._recent if self._recent.version >= graph.version else graph
        problem = binding_problem(
            connection, graph.space_id, held.version, held.token, current=version
        )
        if problem is None:
            return True
        if self._cannot_save(connection):
            then = "this process rebuilds it from the database in memory (the space cannot be "
            then += "written here)"
        else:
            then = "searching exactly until it is rebuilt from the database (by the next "
            then += "write, or Space.optimize())"
        self._warn_once(
            f"binding {problem}",
            "The HNSW index of '%s' does not match its database: %s; %s.",
            self.name,
            problem,
            then,
        )
        return False

    def _newer_on_disk(self) -> bool:
        try:
            stamp = HnswIndex.peek(self.folder)
        except DamagedIndex:
            return False
        graph = self._graph
        return (
            stamp is not None
            and graph is not None
            and stamp.graph != graph.graph_name
            and stamp.version >= graph.version
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
                graph = HnswIndex.load(
                    self.folder, self.dim, self.metric, kind=self.kind, mapped=True
                )
            except DamagedIndex:
                if self._stamp_signature() == signature:
                    raise
                # A writer replaced the sidecar while it was being read: read the new one.
                signature = self._stamp_signature()
                graph = HnswIndex.load(
                    self.folder, self.dim, self.metric, kind=self.kind, mapped=True
                )
        except DamagedIndex as error:
            self._refused, self._refusal = signature, f"damaged: {error}"
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
        self._hold(graph, signature)

    def _hold(self, graph: HnswIndex, signature: tuple[int, int] | None = None) -> None:
        """Search ``graph`` from now on, with an empty tail of recent rows after it."""
        self._graph, self._signature = graph, signature
        self._recent = VectorTable(self.dim, after_rowid=graph.max_rowid, version=graph.version)
        self._recent.token = graph.token

    def _cannot_save(self, connection: sqlite3.Connection) -> bool:
        """Whether this process cannot write the space (read-only open, disk or folder)."""
        read_only = bool(connection.execute("PRAGMA query_only").fetchone()[0])
        return read_only or not os.access(self.folder, os.W_OK)

    def _build_in_memory(self, connection: sqlite3.Connection) -> None:
        """Build the graph for this process alone (it cannot be saved here)."""
        self._warn_once(
            "in memory",
            "Space '%s' cannot be written here, so its HNSW index cannot be saved; this "
            "process builds it in memory and keeps it there.",
            self.name,
        )
        self._hold(self._build(connection, None))

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
        are enough, and leave it to another process that is updating it already. The
        write itself is committed: a sidecar that cannot be saved is a warning, never an
        error."""
        if count < threshold and not self.exists:
            return
        try:
            self.update(connection, count, force=False, wait=False, on_progress=on_progress)
        except OSError as error:  # reading the sidecar failed: the write stays committed
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
        holds the update lock instead of leaving the work to it. Where it cannot be saved
        (read-only, disk full) the graph is brought up to date in memory, with a warning."""
        if self._cannot_save(connection):
            self._update_in_memory(connection)
            return
        try:
            with update_lock(self.folder / LOCK_FILE, wait=wait) as locked:
                if not locked:
                    return
                remove_leftovers(self.folder)  # of writers killed mid-save
                for _ in range(_MAX_ROUNDS):
                    if not self._update_once(connection, count, force, on_progress):
                        break
        except OSError as error:  # the lock file itself cannot be made
            self._warn_unsaved(error)
            self._update_in_memory(connection)

    def _update_in_memory(self, connection: sqlite3.Connection) -> None:
        """Bring the graph this process searches fully up to date, without saving it."""
        graph = self._readable(connection)
        if graph is None:
            self._build_in_memory(connection)
            return
        if len(self._recent) or graph.version != self._recent.version:
            graph.apply(changes_since(connection, graph.version, graph.max_rowid, self.dim))
            if graph.dead_fraction > REBUILD_DEAD_FRACTION or graph.needs_training():
                graph = self._build(connection, None)
            self._hold(graph, self._signature)

    def _update_once(
        self,
        connection: sqlite3.Connection,
        count: int,
        force: bool,
        on_progress: ProgressCallback | None,
    ) -> bool:
        """One round of ``update``; returns whether it changed the saved sidecar."""
        graph = self._sound_graph(connection, force)
        if graph is None:
            return self._save(self._build(connection, on_progress))
        pending = _pending(connection, graph.version, graph.max_rowid)
        if isinstance(graph, HnswIndex):
            pending += graph.unsaved  # deletions a search here applied, not yet saved
        if pending == 0 or (pending < pending_limit(count) and not force):
            return False
        if isinstance(graph, SidecarStamp):
            try:
                graph = HnswIndex.load(self.folder, self.dim, self.metric, kind=self.kind)
            except DamagedIndex as error:
                self._warn_rebuild(str(error))
                graph = None
            if graph is None:
                return self._save(self._build(connection, on_progress))
        changes = changes_since(connection, graph.version, graph.max_rowid, self.dim)
        if graph.needs_training(adding=len(changes.rowids)):  # learn from all rows at once
            return self._save(self._build(connection, on_progress))
        stage = f"Updating the HNSW index of {self.name}"
        graph.apply(changes, progress=_reporter(on_progress, stage))
        if graph.dead_fraction > REBUILD_DEAD_FRACTION:
            graph = self._build(connection, on_progress)
        return self._save(graph)

    def _sound_graph(
        self, connection: sqlite3.Connection, verify: bool
    ) -> HnswIndex | SidecarStamp | None:
        """The sidecar as far as a writer needs to know it: the graph this process holds if
        it is the saved one (or newer, unsaved), else the saved stamp (``verify``: the whole
        sidecar, checksums included); ``None`` if it is missing, damaged or belongs to
        another database (said in a warning)."""
        try:
            found = self._saved_or_held(verify)
        except DamagedIndex as error:
            self._warn_rebuild(str(error))
            return None
        if found is None:
            return None
        problem = binding_problem(connection, found.space_id, found.version, found.token)
        if problem is not None:
            self.close()
            self._warn_rebuild(f"it does not match its database: {problem}")
            return None
        return found

    def _saved_or_held(self, verify: bool) -> HnswIndex | SidecarStamp | None:
        held = self._graph
        try:
            stamp = HnswIndex.peek(self.folder)
        except DamagedIndex:
            if held is not None and held.graph_name is None:  # unsaved here: ours is newer
                return held
            raise
        if held is not None and (
            held.graph_name == (stamp.graph if stamp else None)
            or (held.graph_name is None and (stamp is None or held.version >= stamp.version))
        ):
            return held
        if stamp is None:
            return None
        stat = (self.folder / INDEX_FILE).stat()
        if self._refused == (stat.st_mtime_ns, stat.st_size):
            raise DamagedIndex(self._refusal or "a search here found it unusable")
        try:
            size = (self.folder / stamp.graph).stat().st_size
        except FileNotFoundError:
            raise DamagedIndex("graph file missing") from None
        if size != stamp.graph_bytes:
            raise DamagedIndex("graph file size mismatch")
        if verify:
            return HnswIndex.load(self.folder, self.dim, self.metric, kind=self.kind)
        return stamp

    def _warn_rebuild(self, reason: str) -> None:
        log.warning(
            "The HNSW index of '%s' is unusable (%s); rebuilding it from the database.",
            self.name,
            reason,
        )

    def _build(
        self, connection: sqlite3.Connection, on_progress: ProgressCallback | None
    ) -> HnswIndex:
        changes = changes_since(connection, 0, 0, self.dim)
        stage = f"Building the HNSW index of {self.name}"
        log.info("%s (%d items).", stage, len(changes.rowids))
        graph = HnswIndex(self.dim, self.metric, kind=self.kind)
        graph.space_id = space_id(connection)
        if on_progress is not None:
            on_progress(stage, 0, len(changes.rowids))
        graph.apply(changes, progress=_reporter(on_progress, stage))
        return graph

    def _save(self, graph: HnswIndex) -> bool:
        """Save ``graph`` and search it from now on; returns whether it was saved (a disk
        that refuses is a warning: the graph is kept in memory, and saved by a later
        update)."""
        self._refused = None
        try:
            graph.save(self.folder)
        except OSError as error:
            graph.graph_name = None
            self._hold(graph)
            self._warn_unsaved(error)
            return False
        self._hold(graph, self._stamp_signature())
        return True

    def _warn_unsaved(self, error: OSError) -> None:
        log.warning(
            "Could not save the HNSW index of '%s' (%s); this process keeps it in memory "
            "and searches still see every item. Free some disk space (or fix the folder's "
            "permissions): the next write, or Space.optimize(), saves it.",
            self.name,
            error,
        )


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
