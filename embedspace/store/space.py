"""The Space: a persisted, named collection of embedded items that can be searched.

SQLite (WAL) is the source of truth; exact search (in-memory matrix) and the HNSW sidecar
are derived from it and catch up incrementally with whatever other processes committed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedspace import config
from embedspace.encoders import METRICS, Encoder
from embedspace.encoders import get as get_encoder
from embedspace.errors import (
    EncoderMismatch,
    InvalidInput,
    SpaceExists,
)
from embedspace.io.outputs import folder_mode
from embedspace.io.records import Record, record_hash
from embedspace.store import database as db
from embedspace.store.exact import VectorTable, top_k
from embedspace.store.filters import where_sql
from embedspace.store.hnsw import REBUILD_DEAD_FRACTION, DamagedIndex, HnswIndex
from embedspace.store.items import (
    Item,
    Match,
    WriteResult,
    build_records,
    check_dim,
    check_unique,
    id_list,
)
from embedspace.store.space_tools import SpaceTools

log = logging.getLogger("embedspace")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: Below this many items search is exact; above, HNSW (``exact=True`` is always available).
ANN_THRESHOLD = 50_000
MODALITIES = ("text", "image")
_CHUNK = 900  # SQLite host parameters per IN (...) list


def resolve(name_or_path: str | Path) -> Path:
    """A bare name lives in ``$EMBEDSPACE_HOME``; anything with a path separator is a path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or "\\" in text or text.startswith("~"):
        return Path(text).expanduser()
    if not _NAME.match(text):
        raise InvalidInput(
            f"'{text}' is not a valid space name: use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit (or give a path such as ./my-space)."
        )
    return config.home() / text


class Space(SpaceTools):
    """A persisted collection of items, their vectors, and the indexes to search them.

    Make one with ``Space.create`` or ``Space.open``; the constructor is internal.
    """

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        encoder: Encoder | None,
        *,
        ann_threshold: int,
    ) -> None:
        self.path = path
        self._connection = connection
        self.stamp = db.read_stamp(connection)
        self._encoder = encoder
        self.ann_threshold = ann_threshold
        self._table = VectorTable(self.stamp.dim)
        self._hnsw: HnswIndex | None = None

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def create(
        cls,
        name_or_path: str | Path,
        encoder: str | Encoder = "minilm-l6",
        metric: str = "cosine",
        *,
        ann_threshold: int = ANN_THRESHOLD,
    ) -> Space:
        """Create a new, empty space stamped with ``encoder`` and ``metric``.

        Raises ``SpaceExists`` if something is already there, ``UnknownEncoder`` for an
        unknown encoder, ``InvalidInput`` for an unknown metric. Creation is atomic.
        """
        if metric not in METRICS:
            raise InvalidInput(f"Unknown metric '{metric}'. Choose one of: {', '.join(METRICS)}.")
        path = resolve(name_or_path)
        if path.exists() and (path.is_file() or any(path.iterdir())):
            raise SpaceExists(
                f"{path} already exists. Open it with Space.open, or delete it first "
                f"('embedspace delete {name_or_path}')."
            )
        chosen = get_encoder(encoder)
        stamp = db.Stamp(chosen.name, chosen.dim, metric, chosen.normalized)
        path.parent.mkdir(parents=True, exist_ok=True)
        from embedspace import __version__

        # Built in a temp folder and renamed into place: never a half-made space.
        building = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        try:
            os.chmod(building, folder_mode())  # as mkdir would make it (mkdtemp: 0700)
            db.initialise(building, stamp, __version__)
            if path.exists():
                path.rmdir()
            building.rename(path)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        return cls(path, db.connect(path), chosen, ann_threshold=ann_threshold)

    @classmethod
    def open(
        cls,
        name_or_path: str | Path,
        *,
        encoder: str | Encoder | None = None,
        ann_threshold: int = ANN_THRESHOLD,
    ) -> Space:
        """Open an existing space. ``encoder``, if given, must be the one it was built with."""
        path = resolve(name_or_path)
        space = cls(path, db.connect(path), None, ann_threshold=ann_threshold)
        if encoder is not None:
            chosen = get_encoder(encoder)
            space._check_encoder(chosen)
            space._encoder = chosen
        return space

    def close(self) -> None:
        """Close the database connection (the space stays on disk)."""
        self._connection.close()

    def __enter__(self) -> Space:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        """The folder name of the space."""
        return self.path.name

    @property
    def encoder(self) -> Encoder:
        """The encoder the space was built with (constructed on first use)."""
        if self._encoder is None:
            self._encoder = get_encoder(self.stamp.encoder)
            self._check_encoder(self._encoder)
        return self._encoder

    def _check_encoder(self, encoder: Encoder) -> None:
        if encoder.name != self.stamp.encoder or encoder.dim != self.stamp.dim:
            raise EncoderMismatch(
                f"Space '{self.name}' was built with encoder '{self.stamp.encoder}' "
                f"({self.stamp.dim}-d); it cannot use '{encoder.name}' ({encoder.dim}-d). "
                "Use the same encoder, or create a new space for the other one."
            )

    def __len__(self) -> int:
        return int(db.read_meta(self._connection).get("count", 0))

    def info(self) -> dict[str, Any]:
        """Stamp, size, data version and index state, as plain JSON-able values."""
        meta = db.read_meta(self._connection)
        return {
            "name": self.name,
            "path": str(self.path),
            "encoder": self.stamp.encoder,
            "dim": self.stamp.dim,
            "metric": self.stamp.metric,
            "count": int(meta.get("count", 0)),
            "data_version": int(meta.get("data_version", 0)),
            "created_by": meta.get("created_by"),
            "hnsw_index_bytes": sum(
                f.stat().st_size for f in self.path.glob("hnsw*") if f.is_file()
            ),
            "database_bytes": sum(
                f.stat().st_size for f in self.path.glob(db.DATABASE_FILE + "*") if f.is_file()
            ),
        }

    # -------------------------------------------------------------------- writes
    def add(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any]] | None = None,
        *,
        vectors: np.ndarray | None = None,
        progress: bool = False,
    ) -> WriteResult:
        """Add new items in one transaction; fails (writing nothing) if any id exists.

        ``ids`` default to a hash of each text; ``vectors`` (``(n, dim)``) skips the
        encoder and stores the given embeddings instead.
        """
        records = build_records(texts, ids, metadata, vectors, self.stamp.dim)
        return self._write(records, replace=False, progress=progress)

    def upsert(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any]] | None = None,
        *,
        vectors: np.ndarray | None = None,
        progress: bool = False,
    ) -> WriteResult:
        """Insert or replace items in one transaction; unchanged texts are not re-embedded."""
        records = build_records(texts, ids, metadata, vectors, self.stamp.dim)
        return self._write(records, replace=True, progress=progress)

    def upsert_records(self, records: Sequence[Record], *, progress: bool = False) -> WriteResult:
        """``upsert`` for Records (as the readers in ``embedspace.io`` produce)."""
        for record in records:
            if record.vector is not None:
                check_dim(record.vector.reshape(1, -1), self.stamp.dim, f"item '{record.id}'")
        check_unique([r.id for r in records])
        return self._write(list(records), replace=True, progress=progress)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items by id in one transaction; returns how many existed."""
        wanted = id_list(ids)
        with db.transaction(self._connection):
            found = self._lookup(wanted)
            if not found:
                return 0
            rowids = [rowid for rowid, _, _ in found.values()]
            version = self._bump(-len(rowids))
            self._delete_rows(rowids, version)
        return len(rowids)

    def _write(self, records: list[Record], *, replace: bool, progress: bool) -> WriteResult:
        existing = self._lookup([r.id for r in records])
        if not replace and existing:
            taken = sorted(existing)[:5]
            raise InvalidInput(
                f"{len(existing)} id(s) already in space '{self.name}' (e.g. {', '.join(taken)}); "
                "nothing was added. Use upsert to replace them."
            )
        hashes = [self._hash(r) for r in records]
        needed = [
            i
            for i, r in enumerate(records)
            if r.vector is None and (r.id not in existing or existing[r.id][1] != hashes[i])
        ]
        cached = self._cached_vectors([hashes[i] for i in needed])
        to_embed = [i for i in needed if hashes[i] not in cached]
        fresh: dict[int, np.ndarray] = {}
        if to_embed:
            made = self._embed([records[i] for i in to_embed], progress)
            fresh = dict(zip(to_embed, made, strict=True))
        with db.transaction(self._connection):
            # Re-read inside the write lock: another writer may have committed meanwhile.
            existing = self._lookup([r.id for r in records])
            if not replace and existing:
                raise InvalidInput(
                    f"{len(existing)} id(s) were added meanwhile; nothing was added."
                )
            return self._commit(records, hashes, existing, cached, fresh, progress)

    def _commit(
        self,
        records: list[Record],
        hashes: list[str],
        existing: dict[str, tuple[int, str, str]],
        cached: dict[str, np.ndarray],
        fresh: dict[int, np.ndarray],
        progress: bool,
    ) -> WriteResult:
        added = updated = unchanged = 0
        inserts: list[tuple[str, str, str, str, bytes]] = []
        replaced: list[int] = []
        for position, record in enumerate(records):
            meta_json = json.dumps(record.metadata, sort_keys=True, ensure_ascii=False)
            old = existing.get(record.id)
            if old is not None and old[1] == hashes[position] and record.vector is None:
                if old[2] == meta_json:
                    unchanged += 1
                else:
                    self._connection.execute(
                        "UPDATE items SET metadata = ? WHERE rowid = ?", (meta_json, old[0])
                    )
                    updated += 1
                continue
            vector = record.vector if record.vector is not None else fresh.get(position)
            if vector is None:
                vector = cached.get(hashes[position])
            if vector is None:  # its cached twin was deleted by another writer meanwhile
                vector = self._embed([record], progress)[0]
            if old is not None:
                replaced.append(old[0])
                updated += 1
            else:
                added += 1
            stored = self._prepare(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
            inserts.append(
                (record.id, record.content, hashes[position], meta_json, stored.tobytes())
            )
        if inserts or replaced or updated:
            version = self._bump(added)
            self._delete_rows(replaced, version)
            self._connection.executemany(
                "INSERT INTO items(id, content, content_hash, metadata, vector) VALUES (?,?,?,?,?)",
                inserts,
            )
        return WriteResult(added, updated, unchanged, len(fresh))

    def _hash(self, record: Record) -> str:
        if record.modality not in MODALITIES:
            raise InvalidInput(
                f"Item '{record.id}' has modality '{record.modality}'; "
                f"use one of: {', '.join(MODALITIES)}."
            )
        try:
            return record_hash(record)
        except OSError as error:
            raise InvalidInput(f"Cannot read the image of item '{record.id}': {error}") from None

    def _embed(self, records: list[Record], progress: bool) -> np.ndarray:
        """Texts through ``encode_document``, images through ``encode_images``."""
        out = np.empty((len(records), self.stamp.dim), dtype=np.float32)
        images = [i for i, r in enumerate(records) if r.modality == "image"]
        texts = [i for i, r in enumerate(records) if r.modality != "image"]
        if texts:
            out[texts] = self.encoder.encode_document(
                [records[i].content for i in texts], progress=progress
            )
        if images:
            out[images] = self.encoder.encode_images(
                [records[i].content for i in images], progress=progress
            )
        return out

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        if not np.isfinite(vectors).all():
            raise InvalidInput("Vectors must be finite numbers (no NaN or infinity).")
        if self.stamp.metric == "cosine":
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.where(norms > 0, norms, 1.0)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _bump(self, count_delta: int) -> int:
        meta = db.read_meta(self._connection)
        version = int(meta.get("data_version", 0)) + 1
        db.write_meta(
            self._connection,
            {"data_version": version, "count": int(meta.get("count", 0)) + count_delta},
        )
        return version

    def _delete_rows(self, rowids: list[int], version: int) -> None:
        if not rowids:
            return
        self._connection.executemany(
            "INSERT OR REPLACE INTO deletions(rowid, version) VALUES (?, ?)",
            [(r, version) for r in rowids],
        )
        self._connection.executemany("DELETE FROM items WHERE rowid = ?", [(r,) for r in rowids])

    def _lookup(self, ids: list[str]) -> dict[str, tuple[int, str, str]]:
        found: dict[str, tuple[int, str, str]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in self._connection.execute(
                f"SELECT id, rowid, content_hash, metadata FROM items WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = (row[1], row[2], row[3])
        return found

    def _cached_vectors(self, hashes: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = sorted(set(hashes))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for digest, blob in self._connection.execute(
                f"SELECT content_hash, vector FROM items WHERE content_hash IN ({marks})", chunk
            ):
                found[digest] = np.frombuffer(blob, dtype=np.float32)
        return found

    # --------------------------------------------------------------------- reads
    def get(self, id: str) -> Item | None:
        """The item with this id, or ``None``."""
        row = self._connection.execute(
            "SELECT id, content, metadata, vector FROM items WHERE id = ?", (id,)
        ).fetchone()
        if row is None:
            return None
        vector = np.frombuffer(row[3], dtype=np.float32).copy()
        return Item(row[0], row[1], json.loads(row[2]), vector)

    def ids(self) -> list[str]:
        """Every id, in insertion order."""
        return [r[0] for r in self._connection.execute("SELECT id FROM items ORDER BY rowid")]

    def vectors(self, ids: Sequence[str] | None = None) -> np.ndarray:
        """Stored vectors, ``(n, dim)`` float32: all (insertion order) or for ``ids`` (in order).

        Raises ``InvalidInput`` naming ids that are not in the space.
        """
        if ids is None:
            rows = self._connection.execute("SELECT vector FROM items ORDER BY rowid").fetchall()
            return db.vectors_from_blobs([r[0] for r in rows], self.stamp.dim).copy()
        wanted = id_list(ids)
        blobs: dict[str, bytes] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            blobs.update(
                self._connection.execute(
                    f"SELECT id, vector FROM items WHERE id IN ({marks})", chunk
                ).fetchall()
            )
        missing = [i for i in wanted if i not in blobs]
        if missing:
            raise InvalidInput(f"Not in space '{self.name}': {', '.join(missing[:5])}.")
        return db.vectors_from_blobs([blobs[i] for i in wanted], self.stamp.dim).copy()

    def search(
        self,
        query: str | np.ndarray,
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        exact: bool = False,
    ) -> list[Match]:
        """The ``k`` items closest to ``query`` (a text, or a vector of the space's size).

        ``where`` keeps items whose metadata equals the given values. Selective filters are
        searched exactly, so they never lose recall. ``exact=True`` skips the HNSW index.
        """
        if k < 1:
            raise InvalidInput(f"k must be at least 1, not {k}.")
        vector = self._query_vector(query)
        return self._matches(*self._nearest(vector, k, where, exact))

    def similar(
        self, id: str, k: int = 10, *, where: Mapping[str, Any] | None = None, exact: bool = False
    ) -> list[Match]:
        """The ``k`` items closest to the stored item ``id`` (itself excluded)."""
        item = self.get(id)
        if item is None:
            raise InvalidInput(
                f"No item '{id}' in space '{self.name}'. List ids with 'embedspace info'."
            )
        rowids, scores = self._nearest(item.vector.reshape(1, -1), k + 1, where, exact)
        return [m for m in self._matches(rowids, scores) if m.id != id][:k]

    def _query_vector(self, query: str | np.ndarray) -> np.ndarray:
        if isinstance(query, str):
            if not query.strip():
                raise InvalidInput("The query is empty: give some text to search for.")
            vector = self.encoder.encode_query([query])
        else:
            vector = np.asarray(query, dtype=np.float32).reshape(1, -1)
            check_dim(vector, self.stamp.dim, "the query vector", self.stamp.encoder)
        return self._prepare(vector)

    def _nearest(
        self, vector: np.ndarray, k: int, where: Mapping[str, Any] | None, exact: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        version = db.data_version(self._connection)
        if where:
            return self._filtered(vector, k, where, exact)
        if exact or len(self) < self.ann_threshold:
            self._table.refresh(self._connection, version)
            rowids, scores = self._table.search(vector, k, self.stamp.metric)
            return rowids[0], scores[0]
        rowids, scores = self._ann_index(version).search(vector, k)
        keep = rowids[0] >= 0
        return rowids[0][keep], scores[0][keep]

    def _filtered(
        self, vector: np.ndarray, k: int, where: Mapping[str, Any], exact: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        clause, params = where_sql(where)
        count = self._connection.execute(
            f"SELECT count(*) FROM items WHERE {clause}", params
        ).fetchone()[0]
        if not exact and count >= self.ann_threshold:
            allowed = np.array(
                [
                    r[0]
                    for r in self._connection.execute(
                        f"SELECT rowid FROM items WHERE {clause}", params
                    )
                ],
                dtype=np.int64,
            )
            index = self._ann_index(db.data_version(self._connection))
            rowids, scores = index.search(vector, k, allowed=np.sort(allowed))
            keep = rowids[0] >= 0
            if keep.sum() >= min(k, count):
                return rowids[0][keep], scores[0][keep]
            log.warning(
                "HNSW filtered search found %d of %d; searching the subset exactly.", keep.sum(), k
            )
        rows = self._connection.execute(
            f"SELECT rowid, vector FROM items WHERE {clause}", params
        ).fetchall()
        matrix = db.vectors_from_blobs([r[1] for r in rows], self.stamp.dim)
        positions, scores = top_k(matrix, vector, k, self.stamp.metric)
        rowids = np.array([r[0] for r in rows], dtype=np.int64)
        return rowids[positions[0]], scores[0]

    def _matches(self, rowids: np.ndarray, scores: np.ndarray) -> list[Match]:
        if not len(rowids):
            return []
        marks = ",".join("?" * len(rowids))
        rows = {
            r[0]: r[1:]
            for r in self._connection.execute(
                f"SELECT rowid, id, content, metadata FROM items WHERE rowid IN ({marks})",
                [int(r) for r in rowids],
            )
        }
        return [
            Match(rows[r][0], float(s), rows[r][1], json.loads(rows[r][2]))
            for r, s in zip(rowids.tolist(), scores.tolist(), strict=True)
            if r in rows
        ]

    # ------------------------------------------------------------------ indexes
    def optimize(self) -> None:
        """Bring the HNSW sidecar up to date and save it (``index`` calls this at the end).

        Spaces below the ANN threshold need no sidecar and are left as they are.
        """
        if len(self) >= self.ann_threshold:
            self._ann_index(db.data_version(self._connection), force_save=True)

    def _rebuilt(self) -> HnswIndex:
        index = HnswIndex(self.stamp.dim, self.stamp.metric)
        index.apply(db.changes_since(self._connection, 0, 0, self.stamp.dim))
        index.unsaved = max(index.unsaved, 1)  # an empty space still gets its (empty) sidecar
        return index

    def _ann_index(self, version: int, *, force_save: bool = False) -> HnswIndex:
        index = self._hnsw
        if index is None:
            try:
                index = HnswIndex.load(
                    self.path, self.stamp.dim, self.stamp.metric, current_version=version
                )
            except DamagedIndex as error:
                log.warning(
                    "The HNSW index of '%s' is damaged (%s); rebuilding it.", self.name, error
                )
                index = None
        if index is None:
            index = self._rebuilt()
        elif index.version != version:
            index.apply(
                db.changes_since(self._connection, index.version, index.max_rowid, self.stamp.dim)
            )
            if index.dead_fraction > REBUILD_DEAD_FRACTION:
                index = self._rebuilt()
        self._hnsw = index
        # Small catch-ups stay in memory (the next process re-applies them in milliseconds);
        # builds, large catch-ups and optimize() are written back for everyone.
        if index.unsaved and (force_save or index.unsaved >= max(1000, len(index.rowids) // 100)):
            try:
                index.save(self.path)
            except OSError as error:
                log.warning("Could not save the HNSW index of '%s': %s", self.name, error)
        return index
