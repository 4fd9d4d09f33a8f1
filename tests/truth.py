"""The true nearest items of a space, by numpy over the vectors in its SQLite database:
independent of faiss, the HNSW sidecar and every exact-search path of embedspace."""

from __future__ import annotations

import numpy as np

import embedspace as es


def true_nearest(space: es.Space, query: np.ndarray, k: int) -> list[str]:
    """Ids of the ``k`` items nearest ``query`` under the space's metric, best first."""
    rows = space._db.connection.execute("SELECT id, vector FROM items ORDER BY rowid").fetchall()
    if not rows:
        return []
    ids = [r[0] for r in rows]
    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    query = np.asarray(query, dtype=np.float64)
    if space.stamp.metric == "euclidean":
        scores = -np.linalg.norm(vectors - query, axis=1)
    else:
        if space.stamp.metric == "cosine":
            query = query / np.linalg.norm(query)
        scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return [ids[i] for i in order]
