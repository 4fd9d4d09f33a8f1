"""Exact nearest-neighbour search: one BLAS matrix product and a partial sort.

Scores are "higher is better" for every metric: cosine and dot are the inner product
(cosine spaces store unit vectors), euclidean is the negated distance.
"""

from __future__ import annotations

import sqlite3

import numpy as np
from threadpoolctl import threadpool_limits

from embedspace.config import cpu_count
from embedspace.store.database import Changes, changes_since


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

    A single query runs on one BLAS thread (a matrix-vector product is memory bound and
    thread start-up only adds latency); batches use every core.
    """
    count = min(k, len(matrix))
    if count == 0:
        empty = np.zeros((len(queries), 0))
        return empty.astype(np.int64), empty.astype(np.float32)
    with threadpool_limits(limits=1 if len(queries) == 1 else cpu_count(), user_api="blas"):
        table = scores(matrix, queries, metric)
    if count < table.shape[1]:
        part = np.argpartition(-table, count - 1, axis=1)[:, :count]
    else:
        part = np.broadcast_to(np.arange(table.shape[1]), (len(queries), table.shape[1]))
    chosen = np.take_along_axis(table, part, axis=1)
    order = np.argsort(-chosen, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(chosen, order, axis=1)


class VectorTable:
    """All of a space's vectors in memory, kept in step with SQLite incrementally."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.version = -1
        self.rowids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, dim), dtype=np.float32)

    def refresh(self, connection: sqlite3.Connection, current_version: int) -> None:
        """Apply what was committed since the last refresh (all of it the first time)."""
        if current_version == self.version:
            return
        max_rowid = int(self.rowids[-1]) if len(self.rowids) else 0
        self.apply(changes_since(connection, max(self.version, 0), max_rowid, self.dim))

    def apply(self, changes: Changes) -> None:
        """Drop deleted rows, append new ones."""
        if len(changes.deleted):
            keep = ~np.isin(self.rowids, changes.deleted)
            if not keep.all():
                self.rowids, self.matrix = self.rowids[keep], self.matrix[keep]
        if len(changes.rowids):
            self.rowids = np.concatenate([self.rowids, changes.rowids])
            self.matrix = np.ascontiguousarray(np.concatenate([self.matrix, changes.vectors]))
        self.version = changes.version

    def search(self, queries: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """Rowids and scores of the ``k`` best rows per query."""
        positions, found = top_k(self.matrix, queries, k, metric)
        return self.rowids[positions], found
