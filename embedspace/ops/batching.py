"""Dynamic batching: texts from many concurrent callers are embedded in shared batches.

A server gets many small requests at once (a search box, a chatbot's retriever sending one
to eight sentences each). Embedding each alone leaves the encoder's batch loop idle; this
queue gathers what arrives while the previous batch runs (up to ``max_batch`` texts),
embeds it in one call on a worker thread (the encoder orders each batch by length), and
hands every caller its own rows. With ``workers=N`` up to N batches run side by side, each
on ``threads_per_call`` threads: while one batch is answered and the next one forms, the
other keeps the cores busy. Written here, not taken from a library, because it is a
few lines over asyncio and the encoder contract, and every face that serves can use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from embedspace.encoders.threads import encoder_threads


@dataclass
class _Request:
    texts: list[str]
    future: asyncio.Future[np.ndarray]


class DynamicBatcher:
    """Embeds texts for concurrent callers in shared batches: ``await batcher.embed(texts)``.

    ``encode`` is called on a worker thread with a list of texts and must return their
    vectors in order. Each event loop gets its own queue and ``workers`` workers (started
    on first use); ``threads_per_call`` (if given) is the thread count each call may use
    (``encoder_threads``).
    """

    def __init__(
        self,
        encode: Callable[[list[str]], np.ndarray],
        *,
        max_batch: int = 256,
        workers: int = 1,
        threads_per_call: int | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self._encode_texts = encode
        self.max_batch = max_batch
        self.workers = workers
        self.threads_per_call = threads_per_call
        self._queues: dict[asyncio.AbstractEventLoop, asyncio.Queue[_Request]] = {}
        self._workers: dict[asyncio.AbstractEventLoop, list[asyncio.Task[None]]] = {}
        self.batches = 0  # how many encoder calls so far (for metrics and tests)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of ``texts``, embedded together with other callers' texts."""
        loop = asyncio.get_running_loop()
        if loop not in self._queues:
            queue: asyncio.Queue[_Request] = asyncio.Queue()
            self._queues[loop] = queue
            self._workers[loop] = [loop.create_task(self._work(queue)) for _ in range(self.workers)]
        future: asyncio.Future[np.ndarray] = loop.create_future()
        await self._queues[loop].put(_Request(list(texts), future))
        return await future

    async def _work(self, queue: asyncio.Queue[_Request]) -> None:
        while True:
            taken = [await queue.get()]
            size = len(taken[0].texts)
            while not queue.empty() and size + len(queue._queue[0].texts) <= self.max_batch:  # type: ignore[attr-defined]
                request = queue.get_nowait()
                taken.append(request)
                size += len(request.texts)
            texts = [text for request in taken for text in request.texts]
            try:
                vectors = await asyncio.to_thread(self._encode, texts)
            except Exception as error:
                if len(taken) == 1:
                    if not taken[0].future.done():
                        taken[0].future.set_exception(error)
                else:  # one caller's bad text must not fail the others: each alone
                    for request in taken:
                        await self._alone(request)
                continue
            self.batches += 1
            start = 0
            for request in taken:
                rows = vectors[start : start + len(request.texts)]
                start += len(request.texts)
                if not request.future.done():
                    request.future.set_result(rows)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self.threads_per_call is None:
            return self._encode_texts(texts)
        with encoder_threads(self.threads_per_call):
            return self._encode_texts(texts)

    async def _alone(self, request: _Request) -> None:
        """Embed one caller's texts by themselves; its own error goes to it alone."""
        try:
            rows = await asyncio.to_thread(self._encode, request.texts)
        except Exception as error:
            if not request.future.done():
                request.future.set_exception(error)
            return
        self.batches += 1
        if not request.future.done():
            request.future.set_result(rows)

    async def close(self) -> None:
        """Stop the workers; callers still waiting are cancelled."""
        for tasks in self._workers.values():
            for task in tasks:
                task.cancel()
        for queue in self._queues.values():
            while not queue.empty():
                queue.get_nowait().future.cancel()
        self._workers.clear()
        self._queues.clear()
