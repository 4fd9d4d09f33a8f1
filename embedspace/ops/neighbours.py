"""The k-nearest-neighbour graph of a set of vectors, which dedup, outliers and clustering
build on: exact (faiss' blocked brute force) below ``HNSW_ABOVE`` vectors, HNSW above, so
the cost grows like n log n rather than n squared."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from embedspace.errors import InvalidInput
from embedspace.store.faiss_runtime import load_faiss

HNSW_ABOVE = 50_000


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32, C-contiguous."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.ascontiguousarray(array / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def knn_graph(
    vectors: np.ndarray, k: int, *, queries: np.ndarray | None = None, metric: str = "cosine"
) -> tuple[np.ndarray, np.ndarray]:
    """For each query row (default: every vector, itself excluded), the ``k`` most similar
    vectors: ``(indices (n, k), scores (n, k))``, best first; -1 pads. Scores are cosine
    similarities, or minus the euclidean distance with ``metric="euclidean"`` (higher is
    always more similar)."""
    if metric not in ("cosine", "euclidean"):
        raise InvalidInput(f"metric must be cosine or euclidean, not '{metric}'.")
    if vectors.ndim != 2 or len(vectors) == 0:
        raise InvalidInput("Need a non-empty (n, dim) array of vectors.")
    if k < 1:
        raise InvalidInput(f"k must be at least 1, not {k}.")
    faiss = load_faiss()
    cosine = metric == "cosine"
    prepare = unit if cosine else (lambda v: np.ascontiguousarray(v, dtype=np.float32))
    base = prepare(vectors)
    self_query = queries is None
    probe = base if queries is None else prepare(queries)
    wanted = min(k + (1 if self_query else 0), len(base))
    kind = faiss.METRIC_INNER_PRODUCT if cosine else faiss.METRIC_L2
    if len(base) > HNSW_ABOVE:
        index = faiss.IndexHNSWFlat(base.shape[1], 32, kind)
        index.hnsw.efConstruction = 80
        index.add(base)
        index.hnsw.efSearch = max(96, 2 * wanted)
        similarities, indices = index.search(probe, wanted)
    else:
        similarities, indices = faiss.knn(probe, base, wanted, metric=kind)
    if not cosine:  # faiss gives squared distances: turn them into minus the distance
        similarities = -np.sqrt(np.maximum(similarities, 0))
    if self_query:
        indices, similarities = _drop_self(indices, similarities, k)
    return indices, similarities


def _drop_self(
    indices: np.ndarray, similarities: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    n = len(indices)
    out_i = np.full((n, k), -1, dtype=np.int64)
    out_s = np.full((n, k), -np.inf, dtype=np.float32)
    for row in range(n):
        keep = indices[row] != row
        found_i, found_s = indices[row][keep][:k], similarities[row][keep][:k]
        out_i[row, : len(found_i)] = found_i
        out_s[row, : len(found_s)] = found_s
    return out_i, out_s


def connected_groups(edges: Iterable[tuple[int, int]], count: int) -> list[list[int]]:
    """Connected components of ``count`` nodes joined by ``edges`` that have two or more
    members, each in node order, the largest first (union-find: a few lines, where
    scipy's csgraph would be a dependency of the core for the same result)."""
    parent = list(range(count))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for first, second in edges:
        parent[root(first)] = root(second)
    found: dict[int, list[int]] = {}
    for node in range(count):
        found.setdefault(root(node), []).append(node)
    return sorted((g for g in found.values() if len(g) > 1), key=lambda g: (-len(g), g[0]))
