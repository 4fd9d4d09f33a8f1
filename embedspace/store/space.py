"""The Space: a persisted, named collection of embedded items that can be searched.

SQLite (WAL) is the source of truth (``database.py``). Writes go through ``writes.py``, one
transaction each; searches through ``search.py``, exactly or by HNSW. The HNSW sidecar is
derived and kept current at write time (``ann.py``), so no search pays for building it.

A Space reads like a mapping of ids to items: ``len(space)``, ``"id" in space``,
``for item_id in space`` (ids, in insertion order), ``space.get(item_id)``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders import METRICS, Encoder
from embedspace.encoders import get as get_encoder
from embedspace.errors import EmbedspaceError, EncoderMismatch, InvalidInput, SpaceExists
from embedspace.io.records import Record, Rejection, unicode_problem
from embedspace.progress import ProgressCallback, legacy_progress
from embedspace.store import database as db
from embedspace.store.ann import AnnIndex
from embedspace.store.creation import chosen_ann, create_folder
from embedspace.store.describe import space_info
from embedspace.store.documents import documents_among, no_item
from embedspace.store.fusion import check_mode
from embedspace.store.items import (
    Item,
    Match,
    Snapshot,
    WriteResult,
    id_list,
    records_to_write,
    rows_by_id,
)
from embedspace.store.locations import backend, postgres_location, resolve
from embedspace.store.media_search import MediaSearch, song_totals
from embedspace.store.search import NeighbourSearch, SearchRequest
from embedspace.store.snapshot import read_snapshot
from embedspace.store.validate import check_id, check_k, check_text, search_vector
from embedspace.store.writes import (
    ItemWriter,
    check_recipe,
    kept_recipes,
    recipes,
    recorded_recipes,
)

log = logging.getLogger("embedspace")
#: Below this many items search is exact; above, HNSW (``exact=True`` is always available).
ANN_THRESHOLD = 50_000


@db.guard_public_methods
class Space(MediaSearch):
    """A persisted collection of items, their vectors, and the indexes to search them.

    Make one with ``Space.create`` or ``Space.open``; the constructor is internal.
    ``on_progress(stage, done, total)``, if set, hears about long index work that a write
    or ``optimize()`` does (building the HNSW index when the space reaches
    ``ann_threshold`` items); the library itself prints nothing.
    """

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        encoder: Encoder | None,
        *,
        ann_threshold: int,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.path = path
        self._db = db.DatabaseHandle(path, connection)
        try:
            self.stamp = db.read_stamp(connection)
        except EmbedspaceError:  # made by a newer embedspace
            connection.close()
            raise
        self._encoder = encoder
        self.ann_threshold = ann_threshold
        self.on_progress = on_progress
        self._ann = AnnIndex(
            path, path.name, self.stamp.dim, self.stamp.metric, kind=self.stamp.ann
        )
        self._writer = ItemWriter(self._db, path.name, self.stamp, lambda: self.encoder)
        self._search = NeighbourSearch(self._db, path.name, self.stamp, self._ann)
        self._recipe_checked = False

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def create(
        cls,
        name_or_path: str | Path,
        encoder: str | Encoder | db.Stamp = "minilm-l6",
        metric: str = "cosine",
        *,
        ann_threshold: int = ANN_THRESHOLD,
        on_progress: ProgressCallback | None = None,
        keyword_index: str = "porter",
        name: str | None = None,
        ann: str | None = None,
    ) -> Space:
        """Create a new, empty space stamped with ``encoder`` and ``metric`` (given a
        ``postgresql://`` URL, or ``$EMBEDSPACE_STORE``: the space ``name`` in that database).
        ``keyword_index``: ``"porter"`` (words: case, accents, English endings folded) or
        ``"trigram"`` (any 3+ characters: codes and partial words) for keyword search.
        ``ann``: how its HNSW index holds the vectors: ``"hnsw"`` (float32 copies, the
        default, or the ``Stamp``'s), ``"hnsw-fp16"`` (half the bytes) or ``"hnsw-sq8"``
        (8-bit codes and half the links: ~0.3 of the bytes), the last two with their
        candidates re-scored from the full-precision vectors, which the space keeps.

        ``encoder`` is an encoder (or its name), or a ``Stamp`` for a space of vectors made
        elsewhere (a trained model's item vectors, say): the stamp names what made them,
        their size and whether they have unit length; its metric is ``metric``. Such a
        space takes vectors only, and searches by vector.

        Raises ``SpaceExists`` if something is already there, ``UnknownEncoder`` for an
        unknown encoder, ``InvalidInput`` for an unknown metric. Creation is atomic.
        """
        where = postgres_location(name_or_path, name)
        ann = chosen_ann(ann, encoder, postgres=where is not None)
        if where is not None:
            if keyword_index != "porter":
                raise InvalidInput("PostgreSQL spaces have one keyword index: English words.")
            keeper = backend(where[0])
            made = keeper.create_at(
                *where, encoder, metric, ann_threshold=ann_threshold, on_progress=on_progress
            )
            return made  # type: ignore[no-any-return]
        if metric not in METRICS:
            raise InvalidInput(f"Unknown metric '{metric}'. Choose one of: {', '.join(METRICS)}.")
        if keyword_index not in db.KEYWORD_INDEXES:
            raise InvalidInput(f"keyword_index must be porter or trigram, not {keyword_index!r}.")
        path = resolve(name_or_path)
        chosen: Encoder | None
        if isinstance(encoder, db.Stamp):
            chosen = None
            stamp = db.Stamp(encoder.encoder, encoder.dim, metric, encoder.normalized, ann)
        else:
            chosen = get_encoder(encoder)
            stamp = db.Stamp(chosen.name, chosen.dim, metric, chosen.normalized, ann)
        from embedspace.version import __version__

        create_folder(path, stamp, __version__, str(name_or_path), keyword_index)
        return cls(
            path, db.connect(path), chosen, ann_threshold=ann_threshold, on_progress=on_progress
        )

    @classmethod
    def open(
        cls,
        name_or_path: str | Path,
        *,
        encoder: str | Encoder | None = None,
        ann_threshold: int = ANN_THRESHOLD,
        on_progress: ProgressCallback | None = None,
        name: str | None = None,
    ) -> Space:
        """Open an existing space (given a ``postgresql://`` URL: ``name`` in that database).
        ``encoder``, if given, must be the one it was built with."""
        if (where := postgres_location(name_or_path, name)) is not None:
            keeper = backend(where[0])
            opened = keeper.open_at(
                *where, encoder=encoder, ann_threshold=ann_threshold, on_progress=on_progress
            )
            return opened  # type: ignore[no-any-return]
        path = resolve(name_or_path)
        space = cls(
            path, db.connect(path), None, ann_threshold=ann_threshold, on_progress=on_progress
        )
        if encoder is not None:
            chosen = get_encoder(encoder)
            space._check_encoder(chosen)
            space._encoder = chosen
        return space

    @staticmethod
    def exists(name_or_path: str | Path, name: str | None = None) -> bool:
        """Whether a space lives at ``name_or_path`` (a bare name is looked up in
        ``$EMBEDSPACE_HOME``). Raises ``InvalidInput`` for a malformed name."""
        if (where := postgres_location(name_or_path, name)) is not None:
            return bool(backend(where[0]).exists_at(*where))
        return (resolve(name_or_path) / db.DATABASE_FILE).is_file()

    @classmethod
    def open_or_create(
        cls,
        name_or_path: str | Path,
        *,
        encoder: str | Encoder | None = None,
        metric: str | None = None,
        ann_threshold: int = ANN_THRESHOLD,
        on_progress: ProgressCallback | None = None,
        name: str | None = None,
    ) -> Space:
        """Open the space if it exists, else create it (with ``encoder``, default
        ``minilm-l6``, and ``metric``, default cosine).

        An existing space keeps its own encoder and metric: ``encoder`` must then be the
        one it was built with (``EncoderMismatch``), and a different ``metric`` raises
        ``InvalidInput`` instead of being silently ignored.
        """
        if not cls.exists(name_or_path, name):
            with contextlib.suppress(SpaceExists):  # else another process just made it
                return cls.create(
                    name_or_path,
                    encoder if encoder is not None else "minilm-l6",
                    metric or "cosine",
                    ann_threshold=ann_threshold,
                    on_progress=on_progress,
                    name=name,
                )
        space = cls.open(
            name_or_path,
            encoder=encoder,
            ann_threshold=ann_threshold,
            on_progress=on_progress,
            name=name,
        )
        if metric is not None and metric != space.stamp.metric:
            space.close()
            raise InvalidInput(
                f"Space '{space.name}' uses the {space.stamp.metric} metric; a metric only "
                "applies when a space is created. Leave it out, or use a new space."
            )
        return space

    def close(self) -> None:
        """Close the database connection (the space stays on disk). Using the space
        afterwards raises ``SpaceClosed``; closing twice is harmless."""
        self._db.close()
        self._ann.close()
        self._search.close()

    def __enter__(self) -> Space:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._db.closed:
            return f"<Space {self.name!r} at {self.path} (closed)>"
        return (
            f"<Space {self.name!r}: {len(self):,} items, {self.stamp.encoder} "
            f"({self.stamp.dim}-d, {self.stamp.metric}), at {self.path}>"
        )

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

    def info(self) -> dict[str, Any]:
        """Stamp, size, data version and index state, as plain JSON-able values."""
        meta = db.read_meta(self._db.connection)  # read once for all of it
        info = space_info(self.name, self.path, self.stamp, meta, self._recipe_here())
        return {**info, **song_totals(self._db.connection, self.stamp.encoder)}

    @property
    def data_version(self) -> int:
        """Goes up with every committed write (a copy of the items is checked against it)."""
        return db.data_version(self._db.connection)

    # ------------------------------------------------------- the mapping of ids
    def __len__(self) -> int:
        return db.item_count(self._db.connection)

    def __contains__(self, item_id: object) -> bool:
        """``"id" in space``: whether an item has this id (never true for a non-string)."""
        if not isinstance(item_id, str) or unicode_problem(item_id):
            return False
        sql = "SELECT 1 FROM items WHERE id = ?"
        return self._db.connection.execute(sql, (item_id,)).fetchone() is not None

    def documents_among(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are documents stored as passages (items ``DOC#1``...)."""
        return documents_among(self._db.connection, list(ids))

    def __iter__(self) -> Iterator[str]:
        """The ids in insertion order, as of when iteration starts (as a dict's keys)."""
        return iter(self.ids())

    # -------------------------------------------------------------------- writes
    def add(
        self,
        texts: Sequence[str] | Sequence[Record],
        ids: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any]] | None = None,
        *,
        vectors: np.ndarray | None = None,
        on_progress: ProgressCallback | None = None,
        progress: bool = False,
    ) -> WriteResult:
        """Add new items in one transaction; fails (writing nothing) if any id exists.

        The same as ``upsert`` (see there for the arguments), refusing ids already there."""
        records = self._records(texts, ids, metadata, vectors)
        return self._write(records, False, legacy_progress(on_progress, progress))

    def upsert(
        self,
        items: Sequence[str] | Sequence[Record],
        ids: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any]] | None = None,
        *,
        vectors: np.ndarray | None = None,
        on_progress: ProgressCallback | None = None,
        progress: bool = False,
        replacing: Sequence[str] = (),
        precomputed: Mapping[str, np.ndarray] | None = None,
    ) -> WriteResult:
        """Insert or replace items in one transaction; unchanged content is not re-embedded.
        ``replacing``: ids of documents these items are the whole of (their passages):
        any other item of theirs is deleted in the same transaction. ``precomputed``: vectors
        the space's encoder made elsewhere (Ray), by content hash, used instead of embedding.

        ``items`` are texts (with optional ``ids``, default a hash of each text, and
        ``metadata``), or ``Record``s as the readers in ``embedspace.io`` make them (texts
        and images; their ids, metadata and any vectors travel with them). ``vectors``
        (``(n, dim)``) skips the encoder and stores the given embeddings. Metadata keeps its
        types: numbers and booleans stay numbers and booleans, and ``where`` filters compare
        them so. ``on_progress(stage, done, total)`` hears about the embedding;
        ``progress=True`` (deprecated) prints plain lines on standard error.
        """
        records = self._records(items, ids, metadata, vectors)
        return self._write(
            records, True, legacy_progress(on_progress, progress), replacing, precomputed
        )

    def upsert_records(
        self,
        records: Sequence[Record],
        *,
        on_progress: ProgressCallback | None = None,
        progress: bool = False,
    ) -> WriteResult:
        """``upsert(records)``: kept for code written before ``upsert`` took Records."""
        return self.upsert(records, on_progress=on_progress, progress=progress)

    def upsert_images(
        self,
        path: str | Path | Sequence[str | Path],
        *,
        on_progress: ProgressCallback | None = None,
        progress: bool = False,
    ) -> tuple[WriteResult, list[Rejection]]:
        """Insert or replace the images in a folder (recursively), a file, or a list of
        files: ``upsert(embedspace.io.image_records(path))``. Ids are paths relative to the
        folder named. Corrupt or non-image files are skipped and returned as Rejections (each
        with its path); nothing half-written is stored."""
        from embedspace.io.folder_items import image_records  # not on a search's path

        records, rejected = image_records(path)
        return self.upsert(records, on_progress=on_progress, progress=progress), rejected

    def _records(
        self,
        items: Sequence[str] | Sequence[Record],
        ids: Sequence[str] | None,
        metadata: Sequence[Mapping[str, Any]] | None,
        vectors: np.ndarray | None,
    ) -> list[Record]:
        return records_to_write(items, ids, metadata, vectors, self.stamp.dim, self.stamp.metric)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items by id (a document's id: all its passages) in one transaction;
        returns how many items were deleted."""
        deleted = self._writer.delete(ids)
        if deleted:
            self._after_write()
        return deleted

    def update_metadata(self, updates: Mapping[str, Mapping[str, Any]]) -> int:
        """Merge new metadata fields into existing items, in one transaction (vectors are
        untouched). Raises ``InvalidInput`` naming ids that are not in the space."""
        return self._writer.update_metadata(updates)

    def _write(
        self,
        records: list[Record],
        replace: bool,
        on_progress: ProgressCallback | None,
        replacing: Sequence[str] = (),
        precomputed: Mapping[str, np.ndarray] | None = None,
    ) -> WriteResult:
        result = self._writer.write(
            records,
            replace=replace,
            on_progress=on_progress,
            replacing=replacing,
            precomputed=precomputed,
        )
        if result.added or result.updated or result.removed:
            self._after_write()
        return result

    def _after_write(self) -> None:
        """Keep the HNSW sidecar current (see ``store/ann.py``)."""
        self._ann.after_write(
            self._db.connection, len(self), self.ann_threshold, on_progress=self.on_progress
        )

    # --------------------------------------------------------------------- reads
    def get(self, item_id: str) -> Item | None:
        """The item with this id, or ``None``. For several ids, ``get_many``."""
        if not isinstance(item_id, str):
            raise InvalidInput(
                f"get takes one id (a string), not {type(item_id).__name__}. For several ids "
                "use get_many([...]), which returns a list of items."
            )
        check_id(item_id)
        row = self._db.connection.execute(
            "SELECT id, content, metadata, vector FROM items WHERE id = ?", (item_id,)
        ).fetchone()
        if row is None:
            return None
        vector = np.frombuffer(row[3], dtype=np.float32).copy()
        return Item(row[0], row[1], json.loads(row[2]), vector)

    def get_many(self, ids: Sequence[str]) -> list[Item]:
        """The items with these ids, in the same order. Raises ``InvalidInput`` naming ids
        that are not in the space (use ``get`` for one id that may be missing)."""
        wanted = id_list(ids)
        rows = rows_by_id(self._db.connection, self.name, "id, content, metadata, vector", wanted)
        return [
            Item(r[0], r[1], json.loads(r[2]), np.frombuffer(r[3], dtype=np.float32).copy())
            for r in (rows[i] for i in wanted)
        ]

    def ids(self) -> list[str]:
        """Every id, in insertion order."""
        return [r[0] for r in self._db.connection.execute("SELECT id FROM items ORDER BY rowid")]

    def stored_contents(self, hashes: Sequence[str]) -> set[str]:
        """Which of these content hashes some item already has (no need to embed them)."""
        return set(self._writer.cached_vectors(list(hashes)))

    def vectors(self, ids: Sequence[str] | None = None) -> np.ndarray:
        """Stored vectors, ``(n, dim)`` float32: all (insertion order) or for ``ids`` (in order).

        Raises ``InvalidInput`` naming ids that are not in the space.
        """
        connection = self._db.connection
        if ids is None:
            rows = connection.execute("SELECT vector FROM items ORDER BY rowid").fetchall()
            return db.vectors_from_blobs([r[0] for r in rows], self.stamp.dim).copy()
        wanted = id_list(ids)
        found = rows_by_id(self._db.connection, self.name, "id, vector", wanted)
        return db.vectors_from_blobs([found[i][1] for i in wanted], self.stamp.dim).copy()

    def snapshot(self, where: Mapping[str, Any] | None = None) -> Snapshot:
        """All items (or those whose metadata matches ``where``) read in one consistent
        query: what the multitool's operations work on."""
        return read_snapshot(self._db.connection, self.stamp.dim, self.name, where)

    # -------------------------------------------------------------------- search
    def search(
        self,
        query: str | np.ndarray,
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        exact: bool = False,
        mode: str = "dense",
        alpha: float | None = None,
        embedded: np.ndarray | None = None,
        passages: bool = False,
    ) -> list[Match]:
        """The ``k`` items closest to ``query`` (a text, or a vector of the space's size).

        Scores are higher-is-better: cosine similarity, dot product, or minus the euclidean
        distance. ``where`` keeps items whose metadata matches, e.g. ``{"topic": "food"}``,
        ``{"price": {"<": 300}}``, ``{"topic": {"in": ["a", "b"]}}`` (the full form:
        ``embedspace.store.filters``); a field no item has is logged as a warning. Selective
        filters are searched exactly, so they never lose recall; a filter's rows are read
        once until the space changes (``store/selections.py``). ``exact=True`` skips HNSW.

        ``mode``: ``"dense"`` (by meaning), ``"keyword"`` (bm25 over the words of a text
        query: exact names, codes, rare words; scores are bm25's) or ``"hybrid"`` (the best
        100 of each, filtered by ``where`` first, fused by reciprocal rank, or by ``alpha *
        dense + (1 - alpha) * keyword`` of min-max scaled scores when ``alpha`` is given).
        ``embedded``: the query's vector if made already (a server batches them). Documents
        indexed as passages come back once, by their best passage, unless ``passages``."""
        k = check_k(k)
        check_mode(mode, query, alpha)
        vector = None
        if mode == "keyword":
            check_text(query, "The query")  # type: ignore[arg-type]  # check_mode: a str
        else:
            read_ahead = not exact and not where and len(self) >= self.ann_threshold
            vector = self._query_vector(query, read_ahead=read_ahead, embedded=embedded)
        text = query if isinstance(query, str) else ""
        request = SearchRequest(vector, text, mode, where, exact, alpha, self.ann_threshold)
        return self._search.search(request, k, passages=passages)

    def similar(
        self,
        item_id: str,
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        exact: bool = False,
    ) -> list[Match]:
        """The ``k`` items closest to the stored item ``item_id`` (itself excluded)."""
        k = check_k(k)
        item = self.get(item_id)
        if item is None:
            raise no_item(self._db.connection, self.name, item_id)  # or a document's id
        vector, threshold = item.vector.reshape(1, -1), self.ann_threshold
        found = self._search.dense(vector, k + 1, where, exact, threshold)
        return [m for m in found if m.id != item_id][:k]

    def _dense_many(
        self, vectors: np.ndarray, k: int, where: Any, exact: bool, passages: bool
    ) -> list[list[Match]] | None:
        prepared = self._writer.prepare(vectors)
        return self._search.dense_many(prepared, k, where, exact, self.ann_threshold, passages)

    def _query_vector(
        self, query: str | np.ndarray, *, read_ahead: bool, embedded: np.ndarray | None
    ) -> np.ndarray:
        """The query as stored vectors are (``(1, dim)``; ``search_vector``); ``read_ahead``:
        read the HNSW index while the text is embedded."""

        def encode(text: str) -> np.ndarray:
            with self._ann.reading_ahead() if read_ahead else contextlib.nullcontext():
                return self.encoder.encode_query([text])

        form = (self.stamp.dim, self.stamp.metric, self.stamp.encoder)
        vector = search_vector(query, embedded, form, encode, self.check_queries)
        return self._writer.prepare(vector)

    def _recipe_here(self) -> str:
        """What the encoder would run with here, as far as known without preparing it."""
        try:
            return self.encoder.recipe_note()
        except EmbedspaceError as error:  # an encoder that cannot be built here: say so
            return f"encoder unavailable: {error}"

    def check_queries(self) -> None:
        """Refuse queries incomparable with the stored vectors; warn once about others."""
        if not self._recipe_checked:
            stored = recorded_recipes(self._db.connection)
            check_recipe(stored, len(self) > 0, self.name, self.stamp.encoder, self.encoder)
            self._recipe_checked = True

    def vector_recipes(self) -> list[str]:
        """The encoder recipes the stored vectors were made with (a copy carries them)."""
        stored = recorded_recipes(self._db.connection)
        return kept_recipes(stored, len(self) > 0, self.encoder) if stored is None else stored

    def adopt_recipes(self, made_with: Sequence[str]) -> None:
        """Record that the stored vectors were made with ``made_with`` too (as a copy's)."""
        with db.transaction(self._db.connection):
            merged = dict.fromkeys([*recipes(self._db.connection), *made_with])
            db.write_meta(self._db.connection, {"recipes": list(merged)})

    # ------------------------------------------------------------------ indexes
    def optimize(self) -> None:
        """Bring the HNSW sidecar fully up to date now (writes keep it nearly current; this
        applies even the last few changes, and builds it if it is missing or damaged).

        Spaces below the ANN threshold need no sidecar and are left as they are.
        """
        connection = self._db.connection
        count = len(self)
        if count < self.ann_threshold and not self._ann.exists:
            return
        try:
            self._ann.update(connection, count, force=True, wait=True, on_progress=self.on_progress)
        except OSError as error:
            raise EmbedspaceError(
                f"Could not write the HNSW index of space '{self.name}' in {self.path}: "
                f"{error}. Free some disk space (or fix the folder's permissions) and retry."
            ) from None
