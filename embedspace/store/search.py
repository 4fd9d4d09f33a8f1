"""Finding a space's nearest rows: exactly (all vectors in memory), through the HNSW index
(``ann.py``), or within the items a ``where`` filter keeps (``filters.py``); and the
keyword (``keyword.py``) and hybrid (``fusion.py``) searches built on them."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedspace.store import database as db
from embedspace.store.ann import AnnIndex
from embedspace.store.documents import best_per_document, has_passages
from embedspace.store.exact import VectorTable, top_k, vectors_by_rowid
from embedspace.store.filters import checks_presence, warn_fields_in_no_item, where_sql
from embedspace.store.fusion import (
    CANDIDATES,
    convex_combination,
    reciprocal_rank_fusion,
)
from embedspace.store.items import Match
from embedspace.store.keyword import keyword_search
from embedspace.store.lineage import lineage_problem
from embedspace.store.selections import Selection, SelectionCache

log = logging.getLogger("embedspace")


@dataclass(frozen=True)
class SearchRequest:
    """One search: the query's vector (``None`` for keyword search) and text, and how."""

    vector: np.ndarray | None
    text: str
    mode: str
    where: Mapping[str, Any] | None
    exact: bool
    alpha: float | None
    ann_threshold: int


class NeighbourSearch:
    """The read path of one space: nearest rows for a query vector, then their items."""

    def __init__(
        self, database: db.DatabaseHandle, name: str, stamp: db.Stamp, ann: AnnIndex
    ) -> None:
        self._db, self._name, self._stamp, self._ann = database, name, stamp, ann
        self._table = VectorTable(stamp.dim)
        self._fields_seen: tuple[int, set[str]] = (-1, set())  # (data version, fields)
        self._selections = SelectionCache()

    def close(self) -> None:
        """Let go of the in-memory vectors."""
        self._table = VectorTable(self._stamp.dim)
        self._selections.clear()

    def nearest(
        self,
        vector: np.ndarray,
        k: int,
        *,
        where: Mapping[str, Any] | None,
        exact: bool,
        ann_threshold: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rowids and scores (best first) of the ``k`` rows closest to ``vector``
        (``(1, dim)``, prepared as stored). HNSW searches sets of ``ann_threshold`` rows or
        more, unless ``exact``; smaller ones, and selective filters, are searched exactly."""
        rowids, scores = self.nearest_many(
            vector, k, where=where, exact=exact, ann_threshold=ann_threshold
        )
        return rowids[0], scores[0]

    def nearest_many(
        self,
        vectors: np.ndarray,
        k: int,
        *,
        where: Mapping[str, Any] | None,
        exact: bool,
        ann_threshold: int,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``nearest`` for each row of ``vectors``, in one index call (and one scan of
        the filter)."""
        if where:
            return self._filtered(vectors, k, where, exact, ann_threshold)
        return self._nearest_rows(vectors, k, exact, ann_threshold)

    def _nearest_rows(
        self, vectors: np.ndarray, k: int, exact: bool, ann_threshold: int
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``nearest`` without a filter for each row of ``vectors``, in one index call."""
        connection = self._db.connection
        exact = exact or db.item_count(connection) < ann_threshold
        # An exact search reads the sidecar's own vectors, memory-mapped, when it has them,
        # unless this process holds the vectors already (no SQLite read either way).
        found = (
            None
            if exact and len(self._table)
            else self._ann.search(connection, vectors, k, exact=exact)
        )
        if found is not None:
            kept = [row >= 0 for row in found[0]]  # -1: fewer rows than asked
            return [r[m] for r, m in zip(found[0], kept, strict=True)], [
                s[m] for s, m in zip(found[1], kept, strict=True)
            ]
        self._refresh_table(connection)
        rowids, scores = self._table.search(vectors, k, self._stamp.metric)
        return list(rowids), list(scores)

    def dense_many(
        self,
        vectors: np.ndarray,
        k: int,
        where: Mapping[str, Any] | None,
        exact: bool,
        ann_threshold: int,
        passages: bool,
    ) -> list[list[Match]]:
        """``search`` in dense mode for each row of ``vectors`` (prepared as stored): one
        index call for all of them (exact: one matrix product, every core), after one scan
        of ``where``; a space of passages, answered per document, and a euclidean one
        search them one by one (a batch's matrix product scores a near-identical row -3e-4,
        not 0: ties move)."""
        per_document = not passages and has_passages(self._db.connection)
        if per_document or self._stamp.metric == "euclidean":
            asked = (
                SearchRequest(v[None, :], "", "dense", where, exact, None, ann_threshold)
                for v in vectors
            )
            return [self.search(request, k, passages=passages) for request in asked]
        k = min(k, db.item_count(self._db.connection))
        if k < 1:
            return [[] for _ in vectors]
        rowids, scores = self.nearest_many(
            vectors, k, where=where, exact=exact, ann_threshold=ann_threshold
        )
        return [self.matches(r, s) for r, s in zip(rowids, scores, strict=True)]

    def search(self, request: SearchRequest, k: int, *, passages: bool) -> list[Match]:
        """The ``k`` best matches of ``request`` in its mode; documents stored as passages
        once each, by their best passage (unless ``passages``)."""

        def fetch(count: int) -> list[Match]:
            if request.mode == "keyword":
                return self.keyword(request.text, count, request.where)
            assert request.vector is not None  # dense and hybrid searches have one
            if request.mode == "hybrid":
                return self.hybrid(
                    request.vector,
                    request.text,
                    count,
                    request.where,
                    request.exact,
                    request.alpha,
                    request.ann_threshold,
                )
            return self.dense(
                request.vector, count, request.where, request.exact, request.ann_threshold
            )

        if passages or not has_passages(self._db.connection):
            return fetch(k)
        return best_per_document(fetch, k)

    def dense(
        self,
        vector: np.ndarray,
        k: int,
        where: Mapping[str, Any] | None,
        exact: bool,
        ann_threshold: int,
    ) -> list[Match]:
        """The items of the ``k`` rows nearest ``vector`` (never more than there are: faiss
        allocates ``k`` per query)."""
        k = min(k, db.item_count(self._db.connection))
        if k < 1:
            return []
        return self.matches(
            *self.nearest(vector, k, where=where, exact=exact, ann_threshold=ann_threshold)
        )

    def keyword(self, text: str, k: int, where: Mapping[str, Any] | None) -> list[Match]:
        """The ``k`` items whose content best matches the words of ``text`` (bm25)."""
        if where:
            self._check_fields(where)
        return self.matches(*keyword_search(self._db.connection, text, k, where))

    def hybrid(
        self,
        vector: np.ndarray,
        text: str,
        k: int,
        where: Mapping[str, Any] | None,
        exact: bool,
        alpha: float | None,
        ann_threshold: int,
    ) -> list[Match]:
        """Dense and keyword candidates (``CANDIDATES`` each, ``where`` applied to both
        before fusion), fused by reciprocal rank, or by ``alpha`` when given."""
        connection = self._db.connection
        wanted = min(max(k, CANDIDATES), db.item_count(connection))
        if wanted < 1:
            return []
        # two reads: an item deleted in between is left out by ``matches``
        dense = self.nearest(vector, wanted, where=where, exact=exact, ann_threshold=ann_threshold)
        words = keyword_search(connection, text, wanted, where)
        if alpha is None:
            return self.matches(*reciprocal_rank_fusion(dense, words, k=k))
        return self.matches(*convex_combination(dense, words, alpha=alpha, k=k))

    def _refresh_table(self, connection: sqlite3.Connection) -> None:
        """Bring the in-memory vectors up to date; read them all again if the database is
        no longer the one they were read from (restored from an older copy, ``-wal`` lost):
        row numbers may have been reused since."""
        version = db.data_version(connection)
        table = self._table
        if table.version >= 0:
            problem = lineage_problem(connection, table.version, table.token, current=version)
            if problem is not None:
                log.warning(
                    "The database of space '%s' changed under this process: %s; reading its "
                    "vectors from the database again.",
                    self._name,
                    problem,
                )
                self._table = VectorTable(self._stamp.dim)
        self._table.refresh(connection, version)

    def _filtered(
        self,
        vectors: np.ndarray,
        k: int,
        where: Mapping[str, Any],
        exact: bool,
        ann_threshold: int,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``nearest`` with a filter for each row of ``vectors``: one scan of the filter
        (or none, if this data version's selection is remembered), one index call."""
        connection = self._db.connection
        with db.transaction(connection, write=False):  # a row replaced meanwhile stays in
            chosen, through_index = self._selection(connection, where, exact, ann_threshold)
        self._check_fields(where)  # a valid filter (``where_sql`` checked it above)
        count = len(chosen.rowids)
        rowids: list[np.ndarray] = [np.zeros(0, np.int64)] * len(vectors)
        scores: list[np.ndarray] = [np.zeros(0, np.float32)] * len(vectors)
        pending = list(range(len(vectors)))
        if through_index:  # many rows: through HNSW with only the chosen allowed
            found = self._ann.search(connection, vectors, k, allowed=chosen.rowids)
            if found is not None:
                kept = [row >= 0 for row in found[0]]
                for n, keep in enumerate(kept):
                    rowids[n], scores[n] = found[0][n][keep], found[1][n][keep]
                pending = [n for n, keep in enumerate(kept) if keep.sum() < min(k, count)]
                if pending:
                    log.warning(
                        "HNSW filtered search found fewer than %d for %d of %d queries; "
                        "searching the subset exactly for those.",
                        k,
                        len(pending),
                        len(vectors),
                    )
            if pending and chosen.vectors is None:
                chosen = Selection(*vectors_by_rowid(connection, chosen.rowids, self._stamp.dim))
        if pending:
            assert chosen.vectors is not None  # read with the selection, or just now
            positions, best = top_k(chosen.vectors, vectors[pending], k, self._stamp.metric)
            for row, n in enumerate(pending):
                rowids[n], scores[n] = chosen.rowids[positions[row]], best[row]
        return rowids, scores

    def _selection(
        self, connection: sqlite3.Connection, where: Mapping[str, Any], exact: bool, fewest: int
    ) -> tuple[Selection, bool]:
        """The rows ``where`` keeps (in a read transaction), remembered for this data
        version, and whether HNSW searches them (``fewest`` rows or more, not ``exact``);
        else with their vectors. The path depends on the data and the call alone, never on
        what was asked before (an exact search leaves vectors behind), so an answer does
        not change between two searches of unchanged data."""
        clause, params = where_sql(where)
        key = (clause, json.dumps(params, default=str))
        version = db.data_version(connection)
        stamp = (version, db.version_token(connection, version))
        chosen = self._selections.get(key, stamp)
        if chosen is None:
            selected = connection.execute(f"SELECT rowid FROM items WHERE {clause}", params)
            chosen = Selection(np.sort(np.fromiter((r[0] for r in selected), dtype=np.int64)))
        through_index = not exact and len(chosen.rowids) >= fewest
        if chosen.vectors is None and not through_index:
            chosen = Selection(*vectors_by_rowid(connection, chosen.rowids, self._stamp.dim))
        self._selections.put(key, stamp, chosen)
        return chosen, through_index

    def _check_fields(self, where: Mapping[str, Any]) -> None:
        """Warn about where fields that no item has (once per field and data version)."""
        connection = self._db.connection
        version = db.data_version(connection)
        if self._fields_seen[0] != version:
            self._fields_seen = (version, set())
        seen = self._fields_seen[1]
        unchecked = {key: value for key, value in where.items() if key not in seen}
        if unchecked:  # a missing field is said once too (many searches: one warning)
            warn_fields_in_no_item(connection, unchecked, self._name)
            seen.update(key for key in unchecked if checks_presence(key, unchecked[key]))

    def matches(self, rowids: np.ndarray, scores: np.ndarray) -> list[Match]:
        """The items of ``rowids``, with their scores, in the same order."""
        if not len(rowids):
            return []
        marks = ",".join("?" * len(rowids))
        rows = {
            r[0]: r[1:]
            for r in self._db.connection.execute(
                f"SELECT rowid, id, content, metadata FROM items WHERE rowid IN ({marks})",
                [int(r) for r in rowids],
            )
        }
        return [
            Match(rows[r][0], float(s), rows[r][1], json.loads(rows[r][2]))
            for r, s in zip(rowids.tolist(), scores.tolist(), strict=True)
            if r in rows
        ]
