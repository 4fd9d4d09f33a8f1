"""faiss thread counts are set per call and restored: no process-wide setting changes."""

from __future__ import annotations

import threading

import numpy as np

from embedspace.store.exact import top_k
from embedspace.store.faiss_runtime import faiss_threads, load_faiss


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


def test_a_thread_count_set_in_one_thread_leaves_the_other_threads_alone() -> None:
    faiss = load_faiss()
    before = faiss.omp_get_max_threads()
    inside, leave = threading.Event(), threading.Event()
    counts: list[int] = []

    def search_thread() -> None:
        with faiss_threads(before + 1):
            counts.append(faiss.omp_get_max_threads())
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=search_thread)
    worker.start()
    assert inside.wait(10)
    counts.append(faiss.omp_get_max_threads())  # this thread, while the other holds its own
    leave.set()
    worker.join(10)
    assert counts == [before + 1, before]
