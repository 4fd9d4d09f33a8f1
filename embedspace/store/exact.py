"""Exact nearest-neighbour search: one BLAS matrix product and a partial sort.

Scores are "higher is better" for every metric: cosine and dot are the inner product
(cosine spaces store unit vectors), euclidean is the negated distance.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from embedspace.config import cpu_count
from embedspace.store.database import Changes, changes_since, vectors_from_blobs
from embedspace.store.faiss_runtime import faiss_threads, load_faiss
from embedspace.store.half_scan import HalfCopy

#: Rows from which a table keeps a float16 copy for single queries (``half_scan.py``) once
#: it has served a second one (a fresh CLI search serves one: the copy would not pay).
HALF_COPY_ROWS = 4096


def scores(matrix: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """``(len(queries), len(matrix))`` similarity scores, higher is better."""
    products: np.ndarray = queries @ matrix.T
    if metric != "euclidean":
        return products
    squared = (
        np.einsum("ij,ij->i", queries, queries)[:, None]
        - 2.0 * products
        + np.einsum("ij,ij->i", matrix, matrix)[None, :]
    )
    distances: np.ndarray = np.sqrt(np.maximum(squared, 0.0))
    return -distances


def top_k(
    matrix: np.ndarray, queries: np.ndarray, k: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions and scores of the ``k`` best rows per query, best first.

    faiss's brute-force ``knn`` does the work: blocked BLAS products with a running top-k,
    so it never materialises the full ``queries x rows`` score matrix (3x faster than numpy
    matmul + argpartition on 1,000 x 400k, and bounded memory). A single query takes faiss's
    SIMD path on one thread (thread start-up only adds latency there); batches use BLAS and
    every core.
    """
    faiss = load_faiss()
    count = min(k, len(matrix))
    if count == 0:
        empty = np.zeros((len(queries), 0))
        return empty.astype(np.int64), empty.astype(np.float32)
    kind = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
    with faiss_threads(1 if len(queries) == 1 else cpu_count()):
        found, positions = faiss.knn(
            np.ascontiguousarray(queries, dtype=np.float32),
            np.ascontiguousarray(matrix, dtype=np.float32),
            count,
            metric=kind,
        )
    if metric == "euclidean":
        found = -np.sqrt(np.maximum(found, 0.0))
    return positions.astype(np.int64), found.astype(np.float32)


def vectors_by_rowid(
    connection: sqlite3.Connection, rowids: np.ndarray, dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """The rowids among ``rowids`` still stored, and their float32 vectors (one statement:
    the rowids go in as one JSON array, so no limit on host parameters applies)."""
    rows = connection.execute(
        "SELECT rowid, vector FROM items WHERE rowid IN (SELECT value FROM json_each(?))",
        (json.dumps(np.asarray(rowids).tolist()),),
    ).fetchall()
    found = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return found, vectors_from_blobs([r[1] for r in rows], dim)


class VectorTable:
    """A space's vectors in memory, kept in step with SQLite incrementally.

    By default all of them; with ``after_rowid`` only rows added after that one (the rows an
    HNSW sidecar does not hold yet), starting from data ``version``.
    """

    def __init__(self, dim: int, *, after_rowid: int = 0, version: int = -1) -> None:
        self.dim = dim
        self.version = version
        self.token: str | None = None  # the token of ``version`` (``Changes.token``)
        self.after_rowid = after_rowid
        self.rowids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self._half: HalfCopy | None = None
        self._half_unusable = False  # a component beyond float16's range was seen
        self._single_queries = 0

    def __len__(self) -> int:
        return len(self.rowids)

    @property
    def max_rowid(self) -> int:
        """The largest rowid seen (rows after it are new)."""
        return int(self.rowids[-1]) if len(self.rowids) else self.after_rowid

    def refresh(self, connection: sqlite3.Connection, current_version: int) -> Changes | None:
        """Apply what was committed since the last refresh (all of it the first time);
        returns the changes read (``None`` when already current)."""
        if current_version == self.version:
            return None
        changes = changes_since(connection, max(self.version, 0), self.max_rowid, self.dim)
        self.apply(changes)
        return changes

    def apply(self, changes: Changes) -> None:
        """Drop deleted rows, append new ones."""
        if len(changes.deleted):
            keep = ~np.isin(self.rowids, changes.deleted)
            if not keep.all():
                self.rowids, self.matrix = self.rowids[keep], self.matrix[keep]
                if self._half is not None:
                    self._half.drop(np.flatnonzero(~keep))
        if len(changes.rowids):
            self.rowids = np.concatenate([self.rowids, changes.rowids])
            self.matrix = np.ascontiguousarray(np.concatenate([self.matrix, changes.vectors]))
            if self._half is not None and not self._half.append(changes.vectors):
                self._half, self._half_unusable = None, True
        self.version, self.token = changes.version, changes.token

    def search(
        self, queries: np.ndarray, k: int, metric: str, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rowids and scores of the ``k`` best rows per query (only ``allowed`` rowids, if
        given)."""
        rowids, matrix = self.rowids, self.matrix
        if allowed is not None:
            keep = np.isin(rowids, allowed)
            rowids, matrix = rowids[keep], matrix[keep]
        elif len(queries) == 1 and metric != "euclidean":
            half = self._half_copy()
            proven = half.top_k(matrix, queries[0], k) if half is not None else None
            if proven is not None:
                return rowids[proven[0]][None, :], proven[1][None, :]
        positions, found = top_k(matrix, queries, k, metric)
        return rowids[positions], found

    def _half_copy(self) -> HalfCopy | None:
        """The float16 copy for a single query, made at the second one (``None`` for small
        tables and for vectors float16 cannot hold). It costs half the table's memory again."""
        self._single_queries += 1
        if len(self) < HALF_COPY_ROWS or self._half_unusable or self._single_queries < 2:
            return None
        if self._half is None:
            self._half = HalfCopy.of(self.matrix)
            self._half_unusable = self._half is None
        return self._half
