"""Searching a PostgreSQL space (``store.postgres``): dense search on pgvector's
HNSW index (iterative scans under filters; exact scans for selective filters and
``exact=True``), keyword search on PostgreSQL's full text, and their fusion."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from embedspace.encoders import Encoder
from embedspace.errors import InvalidInput
from embedspace.store.database import Stamp
from embedspace.store.documents import best_per_document
from embedspace.store.fusion import CANDIDATES, check_mode, convex_combination
from embedspace.store.fusion import reciprocal_rank_fusion as rank_fusion
from embedspace.store.items import Item, Match
from embedspace.store.pg_connection import DOCUMENT
from embedspace.store.pg_filters import where_pg
from embedspace.store.validate import check_k, check_text, search_vector


class PostgresSpace(Protocol):
    """What these functions use of ``store.postgres.PostgresSpace`` (named so; a protocol,
    so that this module need not import that one, which imports this)."""

    stamp: Stamp
    ann_threshold: int
    _items: str
    _name: str

    @property
    def encoder(self) -> Encoder: ...

    def get(self, item_id: str) -> Item | None: ...

    def _prepare(self, vectors: np.ndarray) -> np.ndarray: ...

    def check_queries(self) -> None: ...

    def _transaction(self) -> AbstractContextManager[Any]: ...


EF_SEARCH = 96  # candidates HNSW keeps per search (pgvector's default 40 loses recall)
_DISTANCE = {"cosine": "<=>", "dot": "<#>", "euclidean": "<->"}
_WORD = re.compile(r"\w+")


def search(
    space: PostgresSpace,
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
    """As ``Space.search``: dense (HNSW, iterative scans under filters), keyword
    (PostgreSQL full text, ``ts_rank_cd``) or hybrid."""
    k = check_k(k)
    check_mode(mode, query, alpha)
    vector = None
    if mode == "keyword":
        check_text(query, "The query")
    else:
        vector = _query_vector(space, query, embedded)
    text = query if isinstance(query, str) else ""

    def fetch(count: int) -> list[Match]:
        if mode == "keyword":
            return _matches(space, *_keyword(space, text, count, where))
        assert vector is not None
        if mode == "hybrid":
            wanted = max(count, CANDIDATES)
            dense = _dense(space, vector, wanted, where, exact)
            words = _keyword(space, text, wanted, where)
            if alpha is None:
                return _matches(space, *rank_fusion(dense, words, k=count))
            return _matches(space, *convex_combination(dense, words, alpha=alpha, k=count))
        return _matches(space, *_dense(space, vector, count, where, exact))

    if passages or not _has_passages(space):
        return fetch(k)
    return best_per_document(fetch, k)


def _query_vector(
    space: PostgresSpace, query: str | np.ndarray, embedded: np.ndarray | None
) -> np.ndarray:
    form = (space.stamp.dim, space.stamp.metric, space.stamp.encoder)
    encode = lambda text: space.encoder.encode_query([text])  # noqa: E731
    return space._prepare(search_vector(query, embedded, form, encode, space.check_queries))


def _nearest(
    space: PostgresSpace,
    vector: np.ndarray,
    k: int,
    where: Mapping[str, Any] | None,
    exact: bool,
) -> list[Match]:
    return _matches(space, *_dense(space, space._prepare(vector), k, where, exact))


def similar(
    space: PostgresSpace,
    item_id: str,
    k: int = 10,
    *,
    where: Mapping[str, Any] | None = None,
    exact: bool = False,
) -> list[Match]:
    """The ``k`` items closest to the stored item ``item_id`` (itself excluded)."""
    k = check_k(k)
    item = space.get(item_id)
    if item is None:
        raise InvalidInput(f"No item '{item_id}' in space '{space._name}'.")
    found = _nearest(space, item.vector.reshape(1, -1), k + 1, where, exact)
    return [m for m in found if m.id != item_id][:k]


def dense_many(
    space: PostgresSpace,
    vectors: np.ndarray,
    k: int,
    where: Mapping[str, Any] | None,
    exact: bool,
    passages: bool,
) -> list[list[Match]] | None:
    """``search`` in dense mode for each row of ``vectors`` (validated, not yet prepared)
    in one transaction, a filter's rows counted once; ``None`` for a space of passages
    without ``passages`` (answered per document: one ``search`` per query)."""
    if not passages and _has_passages(space):
        return None
    with space._transaction() as connection:
        found = _dense_each(connection, space, space._prepare(vectors), k, where, exact)
        return [_matches_in(connection, space, *rows) for rows in found]


def _dense(
    space: PostgresSpace,
    vector: np.ndarray,
    k: int,
    where: Mapping[str, Any] | None,
    exact: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Rowids and higher-is-better scores of the ``k`` nearest rows."""
    with space._transaction() as connection:
        return _dense_each(connection, space, [vector], k, where, exact)[0]


def _dense_each(
    connection: Any,
    space: PostgresSpace,
    vectors: Sequence[np.ndarray] | np.ndarray,
    k: int,
    where: Mapping[str, Any] | None,
    exact: bool,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``_dense`` for each of ``vectors`` in one transaction, the filter's rows counted
    once (the count decides exact or HNSW, as in SQLite spaces)."""
    clause, params = where_pg(where) if where else ("TRUE", [])
    count = _kept(connection, space, clause, params) if where and not exact else None
    return [_dense_rows(connection, space, v, k, clause, params, exact, count) for v in vectors]


def _kept(connection: Any, space: PostgresSpace, clause: str, params: list[Any]) -> int:
    """How many rows a filter keeps (fewer than ``ann_threshold``: searched exactly)."""
    (count,) = connection.execute(
        f"SELECT count(*) FROM {space._items} WHERE {clause}", params
    ).fetchone()
    return int(count)


def _dense_rows(
    connection: Any,
    space: PostgresSpace,
    vector: np.ndarray,
    k: int,
    clause: str,
    params: list[Any],
    exact: bool,
    count: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``_dense`` inside a transaction; ``count``: the rows the filter keeps (``None``: no
    filter, or an exact search). Each setting is made for this search, as a batch runs
    several in one transaction."""
    operator = _DISTANCE[space.stamp.metric]
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    exact = exact or (count is not None and count < space.ann_threshold)  # as SQLite decides
    select = (
        f"SELECT rowid, embedding {operator} %s AS distance FROM {space._items} "
        f"WHERE {clause} ORDER BY distance LIMIT %s"
    )
    if not exact:
        # as the SQLite spaces' HNSW (hnsw.DEFAULT_EF_SEARCH), at least k
        connection.execute("SET LOCAL enable_indexscan TO DEFAULT")
        connection.execute(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, min(k, 1000))}")
        scan = "relaxed_order" if count is not None else "off"
        connection.execute(f"SET LOCAL hnsw.iterative_scan = {scan}")
        rows = connection.execute(select, [query, *params, k]).fetchall()
        # an iterative scan stops at hnsw.max_scan_tuples: short, search exactly instead
        exact = count is not None and len(rows) < min(k, count)
    if exact:  # a sequential scan and a sort: every row is compared
        connection.execute("SET LOCAL enable_indexscan = off")
        rows = connection.execute(select, [query, *params, k]).fetchall()
    rows.sort(key=lambda r: (r[1], r[0]))  # relaxed order: sort what came back
    rowids = np.array([r[0] for r in rows], dtype=np.int64)
    distances = np.array([r[1] for r in rows], dtype=np.float64)
    # <=> is 1 - cosine; <#> minus the inner product; <-> the distance
    scores = 1.0 - distances if space.stamp.metric == "cosine" else -distances
    return rowids, scores.astype(np.float32)


def _keyword(
    space: PostgresSpace, text: str, k: int, where: Mapping[str, Any] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Rowids and ``ts_rank_cd`` scores of the items sharing words with ``text`` (any
    word: the words are OR-ed, as in SQLite spaces)."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))[:64]
    if not words:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    clause, params = where_pg(where) if where else ("TRUE", [])
    terms = " || ".join(["plainto_tsquery('english', %s)"] * len(words))
    with space._transaction() as connection:
        rows = connection.execute(
            f"WITH q AS (SELECT ({terms}) AS query) SELECT rowid, "
            f"ts_rank_cd(words, q.query) AS score FROM {space._items}, q "
            f"WHERE words @@ q.query AND {clause} ORDER BY score DESC, rowid LIMIT %s",
            [*words, *params, k],
        ).fetchall()
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.float32),
    )


def _matches(space: PostgresSpace, rowids: np.ndarray, scores: np.ndarray) -> list[Match]:
    with space._transaction() as connection:
        return _matches_in(connection, space, rowids, scores)


def _matches_in(
    connection: Any, space: PostgresSpace, rowids: np.ndarray, scores: np.ndarray
) -> list[Match]:
    """The items of ``rowids`` with their scores, in order, read in a transaction."""
    if not len(rowids):
        return []
    rows = {
        r[0]: r[1:]
        for r in connection.execute(
            f"SELECT rowid, id, content, metadata FROM {space._items} WHERE rowid = ANY(%s)",
            ([int(r) for r in rowids],),
        )
    }
    return [
        Match(rows[r][0], float(s), rows[r][1], rows[r][2])
        for r, s in zip(rowids.tolist(), scores.tolist(), strict=True)
        if r in rows
    ]


def _has_passages(space: PostgresSpace) -> bool:
    with space._transaction() as connection:
        row = connection.execute(  # the key written out, so the expression index serves it
            f"SELECT 1 FROM {space._items} WHERE {DOCUMENT} > '' LIMIT 1"
        ).fetchone()
    return row is not None


def documents_among(space: PostgresSpace, ids: list[str]) -> set[str]:
    """Which of ``ids`` are documents stored as passages (their ``_document``)."""
    with space._transaction() as connection:
        rows = connection.execute(
            f"SELECT DISTINCT {DOCUMENT} FROM {space._items} WHERE {DOCUMENT} = ANY(%s)", (ids,)
        ).fetchall()
    return {row[0] for row in rows}
