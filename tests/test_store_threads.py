"""faiss thread counts are set per call and restored: no process-wide setting changes."""

from __future__ import annotations

import numpy as np

from embedspace.store.exact import faiss_threads, load_faiss, top_k


def test_faiss_thread_counts_are_restored_after_each_call() -> None:
    faiss = load_faiss()
    before = faiss.omp_get_max_threads()
    with faiss_threads(1):
        assert faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == before
    matrix = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    positions, scores = top_k(matrix, matrix[:1], 3, "dot")
    assert positions[0, 0] == int(np.argmax(matrix @ matrix[0])) and scores.shape == (1, 3)
    assert faiss.omp_get_max_threads() == before
