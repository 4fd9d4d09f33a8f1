"""faiss, loaded on first use, and the number of OpenMP threads it runs on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def load_faiss() -> Any:
    """The faiss module, typed as ``Any``: its bundled stubs miss most of its API."""
    import faiss

    return faiss


@contextlib.contextmanager
def faiss_threads(count: int) -> Iterator[None]:
    """A context in which faiss runs on ``count`` OpenMP threads; the previous number comes
    back when it ends. The number is OpenMP's per-thread setting (``omp_set_num_threads``,
    through faiss's own OpenMP runtime), so other threads' searches are not changed. Called
    directly, not through threadpoolctl: no scan of the loaded libraries to find the
    runtime, and ~2 instead of ~5 us a call."""
    faiss = load_faiss()
    before = int(faiss.omp_get_max_threads())
    if before == count:
        yield
        return
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
