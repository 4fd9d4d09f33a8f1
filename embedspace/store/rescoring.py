"""Re-scoring the candidates of a quantised HNSW graph from the full-precision vectors.

A graph of float16 or 8-bit codes (``database.ANN_KINDS``) ranks by approximate scores. It
is asked for ``RESCORE`` times as many candidates as wanted; their float32 vectors are read
from SQLite by rowid (a few dozen indexed row reads per query) and scored exactly, so the
scores a search returns are the true ones, and the order is exact among the candidates.
"""

from __future__ import annotations

import sqlite3

import numpy as np

from embedspace.store.exact import scores, vectors_by_rowid

#: Candidates asked of a quantised graph per result wanted.
RESCORE = 4


def candidates_for(k: int) -> int:
    """How many candidates a quantised graph is asked for, to return ``k``."""
    return max(k * RESCORE, 40)


def rescore(
    connection: sqlite3.Connection,
    queries: np.ndarray,
    rowids: np.ndarray,
    k: int,
    metric: str,
    dim: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of each query's candidate ``rowids`` (-1: none) by exact score, best
    first, with those scores; rows deleted since the graph was saved drop out (-1)."""
    wanted = np.unique(rowids[rowids >= 0])
    found_rowids, vectors = vectors_by_rowid(connection, wanted, dim)
    position = {int(r): i for i, r in enumerate(found_rowids)}
    best_rowids = np.full((len(queries), k), -1, dtype=np.int64)
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    for row, (query, candidates) in enumerate(zip(queries, rowids, strict=True)):
        kept = [c for c in dict.fromkeys(candidates.tolist()) if c in position]
        if not kept:
            continue
        exact = scores(vectors[[position[c] for c in kept]], query[None, :], metric)[0]
        order = np.argsort(-exact, kind="stable")[:k]
        best_rowids[row, : len(order)] = np.asarray(kept, dtype=np.int64)[order]
        best_scores[row, : len(order)] = exact[order]
    return best_rowids, best_scores
