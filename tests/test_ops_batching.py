"""Dynamic batching with several workers, and the per-call thread count they ask for."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from embedspace.encoders.threads import encoder_threads, threads_asked
from embedspace.ops.batching import DynamicBatcher


def test_the_thread_count_follows_the_caller_into_worker_threads_and_is_reset() -> None:
    assert threads_asked() is None

    async def inside() -> int | None:
        with encoder_threads(1):
            return await asyncio.to_thread(threads_asked)

    assert asyncio.run(inside()) == 1
    assert threads_asked() is None
    with pytest.raises(ValueError, match="at least 1"), encoder_threads(0):
        pass


def test_two_workers_embed_two_batches_side_by_side_each_on_the_threads_asked() -> None:
    both_running = threading.Barrier(2, timeout=10)  # one worker alone would time out here
    asked: list[int | None] = []

    def encode(texts: list[str]) -> np.ndarray:
        asked.append(threads_asked())
        both_running.wait()
        return np.array([[float(len(t))] for t in texts], dtype=np.float32)

    batcher = DynamicBatcher(encode, max_batch=1, workers=2, threads_per_call=1)

    async def two() -> list[np.ndarray]:
        return await asyncio.gather(batcher.embed(["ab"]), batcher.embed(["abcd"]))

    first, second = asyncio.run(two())
    assert first.tolist() == [[2.0]] and second.tolist() == [[4.0]]
    assert asked == [1, 1] and batcher.batches == 2


def test_one_worker_runs_one_batch_at_a_time() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def encode(texts: list[str]) -> np.ndarray:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        threading.Event().wait(0.02)
        with lock:
            running -= 1
        return np.zeros((len(texts), 1), dtype=np.float32)

    batcher = DynamicBatcher(encode, max_batch=1)

    async def many() -> None:
        await asyncio.gather(*(batcher.embed([str(i)]) for i in range(5)))

    asyncio.run(many())
    assert most == 1 and batcher.batches == 5
    with pytest.raises(ValueError, match="workers"):
        DynamicBatcher(encode, workers=0)
