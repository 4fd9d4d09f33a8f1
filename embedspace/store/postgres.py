"""A space in PostgreSQL with pgvector: the same contract as a SQLite space (``Space``), for
teams whose writers and readers are on several machines.

Layout, in the database the URL names (``postgresql://user@host:port/db``):

- ``embedspace_spaces``: one row per space (its stamp, data version, recipes, and the name
  of its items table). Every write locks its space's row first (``FOR UPDATE``), so writers
  on any machine take turns, and bumps the data version in the same transaction.
- one items table per space: ``id``, ``content``, ``content_hash``, ``metadata jsonb``,
  ``embedding vector(dim)``, and ``words``, a ``tsvector`` PostgreSQL keeps from the
  content (keyword search). Indexes: GIN on the words, btree on the content hash (the
  embedding cache) and on passages' document; HNSW on the vectors (the space's metric),
  built in one go once the space reaches ``ann_threshold`` items.

Searches (``pg_search``): HNSW, with pgvector's iterative index scans under filters
(``relaxed_order``, results re-sorted, an exact scan if they come back short); below the
threshold, filters keeping fewer than ``ann_threshold`` items, and ``exact=True``: exact
scans. Keyword scores are PostgreSQL's ``ts_rank_cd`` (not bm25). Each write is one
transaction; a search reads in a few.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.config import cpu_count
from embedspace.encoders import Encoder
from embedspace.encoders import get as get_encoder
from embedspace.encoders.base import METRICS
from embedspace.encoders.landmarks import LandmarkFingerprinter
from embedspace.errors import InvalidInput, SpaceClosed, SpaceExists, SpaceNotFound, StorageError
from embedspace.io.records import Record, record_hash
from embedspace.progress import ProgressCallback, report
from embedspace.store import database as db
from embedspace.store import pg_recipes, pg_search, pg_writes
from embedspace.store.hnsw import DEFAULT_EF_CONSTRUCTION, DEFAULT_M
from embedspace.store.items import Item, Match, Snapshot, WriteResult, id_list
from embedspace.store.pg_connection import (
    DOCUMENT,
    OPERATOR_CLASSES,
    as_array,
    check_name,
    connect,
    first_line,
    psycopg_module,
    safe_url,
    space_exists,
    table_name,
)
from embedspace.store.pg_filters import where_pg
from embedspace.store.space import ANN_THRESHOLD, Space
from embedspace.store.validate import metadata_json
from embedspace.store.writes import (
    checked_vectors,
    embed_records,
    prepare_vectors,
    refuse_taken,
)

log = logging.getLogger("embedspace")
HNSW_MAX_DIM = 2000  # pgvector indexes vectors of up to 2,000 dimensions


class PostgresSpace(Space):
    """A space whose items live in PostgreSQL (see the module docstring). Made by
    ``Space.create`` and ``Space.open`` given a ``postgresql://`` URL and a ``name``."""

    def __init__(
        self,
        url: str,
        name: str,
        connection: Any,
        encoder: Encoder | None,
        *,
        ann_threshold: int = ANN_THRESHOLD,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        row = connection.execute(
            "SELECT items, encoder, dim, metric, normalized FROM embedspace_spaces WHERE name = %s",
            (name,),
        ).fetchone()
        if row is None:
            connection.close()
            raise SpaceNotFound(
                f"No space '{name}' in {safe_url(url)}. Create it with --store and 'index'."
            )
        self.url = url
        self.path = Path(name)
        self._name = name
        self._connection: Any = connection
        self._items = row[0]
        self.stamp = db.Stamp(row[1], int(row[2]), row[3], bool(row[4]))
        self._encoder = encoder
        self.ann_threshold = ann_threshold
        self.on_progress = on_progress
        self._recipe_checked = False

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def create_at(
        cls,
        url: str,
        name: str,
        encoder: str | Encoder | db.Stamp = "minilm-l6",
        metric: str = "cosine",
        *,
        ann_threshold: int = ANN_THRESHOLD,
        on_progress: ProgressCallback | None = None,
    ) -> PostgresSpace:
        """Create the space ``name`` in the database at ``url`` (one transaction)."""
        if metric not in METRICS:
            raise InvalidInput(f"Unknown metric '{metric}'. Choose one of: {', '.join(METRICS)}.")
        check_name(name)
        chosen: Encoder | None
        if isinstance(encoder, db.Stamp):
            chosen, stamp = None, db.Stamp(encoder.encoder, encoder.dim, metric, encoder.normalized)
        else:
            chosen = get_encoder(encoder)
            stamp = db.Stamp(chosen.name, chosen.dim, metric, chosen.normalized)
        if stamp.encoder == LandmarkFingerprinter.name:
            raise InvalidInput(
                f"Spaces of the {stamp.encoder} encoder (song fingerprints) live in SQLite "
                "only: create it as a folder (leave out --store and the URL)."
            )
        from embedspace.version import __version__

        psycopg = psycopg_module()
        connection = connect(url)
        table = table_name(name)
        try:
            with connection.transaction():
                connection.execute(
                    "INSERT INTO embedspace_spaces(name, items, encoder, dim, metric, normalized, "
                    "created_by) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (name, table, stamp.encoder, stamp.dim, metric, stamp.normalized, __version__),
                )
                connection.execute(
                    f"CREATE TABLE {table} (rowid bigserial PRIMARY KEY, id text NOT NULL UNIQUE, "
                    "content text NOT NULL, content_hash text NOT NULL, metadata jsonb NOT NULL, "
                    f"embedding vector({stamp.dim}) NOT NULL, words tsvector GENERATED ALWAYS AS "
                    "(to_tsvector('english', content)) STORED)"
                )
                connection.execute(f"CREATE INDEX ON {table} (content_hash)")
                connection.execute(f"CREATE INDEX ON {table} USING gin (words)")
                connection.execute(f"CREATE INDEX ON {table} ({DOCUMENT})")
        except psycopg.errors.UniqueViolation:
            connection.close()
            raise SpaceExists(f"A space '{name}' already exists in {safe_url(url)}.") from None
        except psycopg.Error as error:
            connection.close()
            raise StorageError(
                f"Could not create space '{name}' in {safe_url(url)}: {first_line(error)}."
            ) from None
        return cls(
            url, name, connection, chosen, ann_threshold=ann_threshold, on_progress=on_progress
        )

    exists_at = staticmethod(space_exists)  # whether the database holds the space

    @classmethod
    def open_at(
        cls,
        url: str,
        name: str,
        *,
        encoder: str | Encoder | None = None,
        ann_threshold: int = ANN_THRESHOLD,
        on_progress: ProgressCallback | None = None,
    ) -> PostgresSpace:
        """Open the space ``name`` in the database at ``url``."""
        connection = connect(url)
        space = cls(
            url, name, connection, None, ann_threshold=ann_threshold, on_progress=on_progress
        )
        if encoder is not None:
            chosen = get_encoder(encoder)
            space._check_encoder(chosen)
            space._encoder = chosen
        return space

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __repr__(self) -> str:
        state = "closed" if self._connection is None else f"{len(self):,} items"
        return (
            f"<Space '{self._name}': {state}, {self.stamp.encoder} ({self.stamp.dim}-d, "
            f"{self.stamp.metric}), in {safe_url(self.url)}>"
        )

    @property
    def name(self) -> str:
        """The space's name."""
        return self._name

    @property
    def _db_connection(self) -> Any:
        if self._connection is None:
            raise SpaceClosed(
                f"Space '{self._name}' is closed. Open it again with Space.open(url, name=...)."
            )
        return self._connection

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One transaction; PostgreSQL's errors become a ``StorageError`` saying what failed."""
        psycopg = psycopg_module()
        connection = self._db_connection
        try:
            with connection.transaction():
                yield connection
        except psycopg.Error as error:
            raise StorageError(
                f"PostgreSQL refused a request on space '{self._name}': {first_line(error)}. "
                "Nothing of this call was written."
            ) from None

    def info(self) -> dict[str, Any]:
        """Stamp, size and data version, as plain JSON-able values."""
        with self._transaction() as connection:
            version, recipes, made_by = connection.execute(
                "SELECT data_version, recipes, created_by FROM embedspace_spaces WHERE name = %s",
                (self._name,),
            ).fetchone()
            count = connection.execute(f"SELECT count(*) FROM {self._items}").fetchone()[0]
        return {
            "name": self._name,
            "path": f"{safe_url(self.url)}#{self._name}",
            "store": "postgresql",
            "encoder": self.stamp.encoder,
            "dim": self.stamp.dim,
            "metric": self.stamp.metric,
            "recipes": [str(r) for r in recipes],
            "recipe_here": self._recipe_here(),
            "keyword_index": "postgresql english",
            "ann": "pgvector hnsw",
            "count": int(count),
            "data_version": int(version),
            "created_by": made_by,
        }

    @property
    def data_version(self) -> int:
        """Goes up with every committed write."""
        with self._transaction() as connection:
            row = connection.execute(
                "SELECT data_version FROM embedspace_spaces WHERE name = %s", (self._name,)
            ).fetchone()
        return int(row[0])

    # ------------------------------------------------------- the mapping of ids
    def __len__(self) -> int:
        with self._transaction() as connection:
            return int(connection.execute(f"SELECT count(*) FROM {self._items}").fetchone()[0])

    def __contains__(self, item_id: object) -> bool:
        if not isinstance(item_id, str):
            return False
        with self._transaction() as connection:
            sql = f"SELECT 1 FROM {self._items} WHERE id = %s"
            return connection.execute(sql, (item_id,)).fetchone() is not None

    def documents_among(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are documents stored as passages (items ``DOC#1``...)."""
        return pg_search.documents_among(self, list(ids))

    def ids(self) -> list[str]:
        """Every id, in insertion order."""
        with self._transaction() as connection:
            return [
                r[0] for r in connection.execute(f"SELECT id FROM {self._items} ORDER BY rowid")
            ]

    def stored_contents(self, hashes: Sequence[str]) -> set[str]:
        """Which of these content hashes some item already has."""
        with self._transaction() as connection:
            rows = connection.execute(
                f"SELECT DISTINCT content_hash FROM {self._items} WHERE content_hash = ANY(%s)",
                (list(hashes),),
            )
            return {r[0] for r in rows}

    # -------------------------------------------------------------------- writes
    def _write(
        self,
        records: list[Record],
        replace: bool,
        on_progress: ProgressCallback | None,
        replacing: Sequence[str] = (),
        precomputed: Mapping[str, np.ndarray] | None = None,
    ) -> WriteResult:
        hashes = [record_hash(r) for r in records]
        existing = self._lookup([r.id for r in records])
        if not replace:
            refuse_taken(existing, self._name)
        needed = [
            i
            for i, r in enumerate(records)
            if r.vector is None and (r.id not in existing or existing[r.id][0] != hashes[i])
        ]
        vectors = self._cached([hashes[i] for i in needed])
        to_embed = [i for i in needed if hashes[i] not in vectors]  # as a SQLite space counts
        given = checked_vectors(precomputed or {}, self.stamp.dim)
        vectors.update({hashes[i]: given[hashes[i]] for i in to_embed if hashes[i] in given})
        rest = [i for i in to_embed if hashes[i] not in vectors]
        if rest:
            if not self.encoder.recipes_comparable:  # refused before the embedding's work
                with self._transaction() as connection:
                    made_by, encoder = self.stamp.encoder, self.encoder
                    pg_recipes.refuse_write(connection, self._items, self._name, made_by, encoder)
            made = self._embed([records[i] for i in rest], on_progress)
            vectors.update({hashes[i]: v for i, v in zip(rest, made, strict=True)})
        with self._transaction() as connection:
            self._lock(connection)
            existing = self._lookup([r.id for r in records], connection)
            if not replace and existing:
                raise InvalidInput(
                    f"{len(existing)} id(s) were added meanwhile; nothing was added."
                )
            if to_embed:  # before this write's rows: they are not the space's old vectors
                self._record_recipe(connection)
            result = pg_writes.commit(
                connection,
                self._items,
                self._prepare,
                records,
                hashes,
                existing,
                vectors,
                lambda record: self._embed_recorded(connection, record, on_progress),
            )
            removed = pg_writes.remove_parts(
                connection, self._items, replacing, {r.id for r in records}
            )
            if result[0] or result[1] or removed:
                self._bump(connection)
        if result[0]:
            self._ensure_index()
        return WriteResult(result[0], result[1], result[2], len(to_embed), removed)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items by id (a document's id: its passages too); returns how many went."""
        wanted = id_list(ids)
        with self._transaction() as connection:
            self._lock(connection)
            rows = connection.execute(
                f"DELETE FROM {self._items} WHERE id = ANY(%s) OR {DOCUMENT} = ANY(%s) RETURNING 1",
                (wanted, wanted),
            ).fetchall()
            if rows:
                self._bump(connection)
        return len(rows)

    def update_metadata(self, updates: Mapping[str, Mapping[str, Any]]) -> int:
        """Merge new metadata fields into existing items, in one transaction."""
        if not isinstance(updates, Mapping):
            raise InvalidInput(
                "update_metadata takes a mapping of id to new fields, e.g. "
                "{'id1': {'topic': 'food'}}."
            )
        wanted = id_list(list(updates))
        for item_id in wanted:
            metadata_json(updates[item_id], item_id)
        with self._transaction() as connection:
            self._lock(connection)
            found = self._lookup(wanted, connection)
            missing = [i for i in wanted if i not in found]
            if missing:
                raise InvalidInput(
                    f"Not in space '{self._name}': {', '.join(missing[:5])}; nothing was changed."
                )
            rows = [
                (metadata_json({**json.loads(found[i][1]), **dict(updates[i])}, i), i)
                for i in wanted
            ]
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {self._items} SET metadata = %s::jsonb WHERE id = %s", rows
                )
            self._bump(connection)
        return len(rows)

    def _lock(self, connection: Any) -> None:
        """Take the space's write lock (its row): writers on every machine take turns."""
        connection.execute(
            "SELECT 1 FROM embedspace_spaces WHERE name = %s FOR UPDATE", (self._name,)
        )

    def _bump(self, connection: Any) -> None:
        connection.execute(
            "UPDATE embedspace_spaces SET data_version = data_version + 1 WHERE name = %s",
            (self._name,),
        )

    def _embed_recorded(self, connection: Any, record: Record, on_progress: Any) -> np.ndarray:
        self._record_recipe(connection)  # a twin deleted meanwhile: embedded after all
        vector: np.ndarray = self._embed([record], on_progress)[0]
        return vector

    def _record_recipe(self, connection: Any) -> None:
        pg_recipes.record(connection, self._items, self._name, self.stamp.encoder, self.encoder)

    def _lookup(self, ids: list[str], connection: Any | None = None) -> dict[str, tuple[str, str]]:
        """``id -> (content_hash, metadata JSON)`` of the ids that exist."""
        if not ids:
            return {}
        if connection is None:
            with self._transaction() as opened:
                return self._lookup(ids, opened)
        rows = connection.execute(
            f"SELECT id, content_hash, metadata::text FROM {self._items} WHERE id = ANY(%s)",
            (ids,),
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def _cached(self, hashes: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors of these content hashes (the embedding cache)."""
        if not hashes:
            return {}
        with self._transaction() as connection:
            rows = connection.execute(
                f"SELECT DISTINCT ON (content_hash) content_hash, embedding FROM {self._items} "
                "WHERE content_hash = ANY(%s)",
                (sorted(set(hashes)),),
            )
            return {r[0]: as_array(r[1]) for r in rows}

    def _embed(self, records: list[Record], on_progress: ProgressCallback | None) -> np.ndarray:
        return embed_records(self.encoder, records, on_progress)

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors as stored: as in SQLite spaces (``writes.prepare_vectors``)."""
        return prepare_vectors(vectors, self.stamp.metric)

    # --------------------------------------------------------------------- reads
    def get(self, item_id: str) -> Item | None:
        """The item with this id, or ``None``."""
        if not isinstance(item_id, str):
            raise InvalidInput(f"get takes one id (a string), not {type(item_id).__name__}.")
        found = self._items_by_id([item_id])
        return found.get(item_id)

    def get_many(self, ids: Sequence[str]) -> list[Item]:
        """The items with these ids, in order; ``InvalidInput`` names ids not in the space."""
        wanted = id_list(ids)
        found = self._items_by_id(wanted)
        missing = [i for i in wanted if i not in found]
        if missing:
            raise InvalidInput(f"Not in space '{self._name}': {', '.join(missing[:5])}.")
        return [found[i] for i in wanted]

    def _items_by_id(self, ids: list[str]) -> dict[str, Item]:
        with self._transaction() as connection:
            rows = connection.execute(
                f"SELECT id, content, metadata, embedding FROM {self._items} WHERE id = ANY(%s)",
                (ids,),
            )
            return {r[0]: Item(r[0], r[1], r[2], as_array(r[3])) for r in rows}

    def vectors(self, ids: Sequence[str] | None = None) -> np.ndarray:
        """Stored vectors: all (insertion order) or for ``ids`` (in order)."""
        if ids is None:
            return self.snapshot().vectors
        wanted = id_list(ids)
        found = self._items_by_id(wanted)
        missing = [i for i in wanted if i not in found]
        if missing:
            raise InvalidInput(f"Not in space '{self._name}': {', '.join(missing[:5])}.")
        if not wanted:
            return np.zeros((0, self.stamp.dim), dtype=np.float32)
        return np.stack([found[i].vector for i in wanted])

    def snapshot(self, where: Mapping[str, Any] | None = None) -> Snapshot:
        """All items (or those matching ``where``) read in one transaction."""
        clause, params = where_pg(where) if where else ("TRUE", [])
        with self._transaction() as connection:
            rows = connection.execute(
                f"SELECT id, content, metadata, embedding FROM {self._items} WHERE {clause} "
                "ORDER BY rowid",
                params,
            ).fetchall()
        vectors = (
            np.stack([as_array(r[3]) for r in rows])
            if rows
            else np.zeros((0, self.stamp.dim), dtype=np.float32)
        )
        return Snapshot([r[0] for r in rows], vectors, [r[1] for r in rows], [r[2] for r in rows])

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
        """As ``Space.search``: dense (HNSW, iterative scans under filters, exact for
        selective ones), keyword (PostgreSQL full text, ``ts_rank_cd``) or hybrid."""
        return pg_search.search(
            self,
            query,
            k,
            where=where,
            exact=exact,
            mode=mode,
            alpha=alpha,
            embedded=embedded,
            passages=passages,
        )

    def similar(
        self,
        item_id: str,
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        exact: bool = False,
    ) -> list[Match]:
        """The ``k`` items closest to the stored item ``item_id`` (itself excluded)."""
        return pg_search.similar(self, item_id, k, where=where, exact=exact)

    def _dense_many(self, *asked: Any) -> list[list[Match]] | None:
        return pg_search.dense_many(self, *asked)  # one transaction, one filter count

    def vector_recipes(self) -> list[str]:
        """The encoder recipes the stored vectors were made with (a copy carries them)."""
        with self._transaction() as connection:
            return pg_recipes.stored(connection, self._name)

    def adopt_recipes(self, made_with: Sequence[str]) -> None:
        """Record that the stored vectors were made with ``made_with`` too (as a copy's)."""
        with self._transaction() as connection:
            pg_recipes.adopt(connection, self._name, made_with)

    def check_queries(self) -> None:
        """Refuse queries incomparable with the stored vectors; warn once about others."""
        if not self._recipe_checked:
            with self._transaction() as connection:
                made_by = self.stamp.encoder
                pg_recipes.check_query(connection, self._items, self._name, made_by, self.encoder)
        self._recipe_checked = True

    def optimize(self) -> None:
        """Build the HNSW index once ``ann_threshold`` items are in; refresh the statistics."""
        self._ensure_index()
        with self._transaction() as connection:
            connection.execute(f"ANALYZE {self._items}")

    def _ensure_index(self) -> None:
        """The HNSW index, built in one go once the space reaches ``ann_threshold`` items
        (as SQLite spaces do): bulk building is many times faster than growing the graph
        one insert at a time (100k x 384-d took over 11 minutes of inserts here), and below
        the threshold an exact scan is fast and exact. PostgreSQL keeps it up after."""
        index = f"{self._items}_hnsw"
        if self.stamp.dim > HNSW_MAX_DIM:  # pgvector's HNSW limit: exact scans only
            return
        with self._transaction() as connection:
            if connection.execute("SELECT to_regclass(%s)", (index,)).fetchone()[0]:
                return
            count = connection.execute(f"SELECT count(*) FROM {self._items}").fetchone()[0]
        if count < self.ann_threshold:
            return
        report(self.on_progress, f"Building the HNSW index of {self._name}", 0, 1)
        try:
            self._build_index(index)
        except StorageError as error:  # the write itself is committed: say so, go on exact
            log.warning(
                "Space '%s': HNSW index not built (%s); searches stay exact.", self._name, error
            )
        report(self.on_progress, f"Building the HNSW index of {self._name}", 1, 1)

    def _build_index(self, index: str) -> None:
        with self._transaction() as connection:  # writers wait; readers go on
            self._lock(connection)  # one builder: the others find the index built
            if connection.execute("SELECT to_regclass(%s)", (index,)).fetchone()[0]:
                return
            connection.execute("SET LOCAL maintenance_work_mem = '1GB'")
            connection.execute(
                f"SET LOCAL max_parallel_maintenance_workers = {max(0, cpu_count() - 1)}"
            )
            connection.execute(  # the graph shape of SQLite spaces' HNSW (store/hnsw.py)
                f"CREATE INDEX IF NOT EXISTS {index} ON {self._items} USING hnsw "
                f"(embedding {OPERATOR_CLASSES[self.stamp.metric]}) "
                f"WITH (m = {DEFAULT_M}, ef_construction = {DEFAULT_EF_CONSTRUCTION})"
            )
