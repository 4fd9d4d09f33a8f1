"""How many threads one encoder call may use, set per caller.

By default a call may use every core. A call with many texts spends its threads on
single-threaded onnxruntime calls side by side (``OnnxTextEncoder._side_by_side``); a
query's few texts run on one thread. A server that runs one call per core side by side
itself sets one thread per call: two calls on two cores, each single-threaded, beat two
calls sharing one two-thread pool whose threads wait for each other whenever the event loop
or another call takes a core (measured on 2 cores: /v1/embeddings ~230 -> ~270
sentences/s). A context variable, so it follows ``asyncio.to_thread`` into the worker and
touches no other caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_THREADS: ContextVar[int | None] = ContextVar("embedspace_encoder_threads", default=None)


@contextmanager
def encoder_threads(count: int) -> Iterator[None]:
    """Within the block, encoder calls made by this thread or task use ``count`` threads
    (encoders run by onnxruntime honour it; others keep their own threading)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    token = _THREADS.set(count)
    try:
        yield
    finally:
        _THREADS.reset(token)


def threads_asked() -> int | None:
    """The thread count set by ``encoder_threads`` around this call, if any."""
    return _THREADS.get()
