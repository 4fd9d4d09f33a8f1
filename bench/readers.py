"""Read latency of HNSW searches while two writer processes add items, against the same
reader on an idle space, as a ratio (issue 12, point 4: within 2x).

A space of random unit vectors past its ANN threshold (searches use the HNSW sidecar). One
reader (this process, one long-lived ``Space`` handle) runs single-vector searches
back to back; phases alternate, idle and busy: in a busy phase two writer processes add
batches of vectors (``--rate`` items/s each), so the sidecar is behind by up to
``pending_limit`` rows that readers search exactly, and writers save newer graphs that
readers map. Every search is checked to return ``k`` results.

    .venv/bin/python -m bench.readers [--items 30000] [--dim 128] [--phases 3]
                                      [--seconds 3] [--rate 600]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import numpy as np

from bench.data import machine

TARGET = 2.0
K = 10


def _unit(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    vectors = rng.normal(size=(count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build(path: Path, items: int, dim: int, threshold: int) -> None:
    """A space of ``items`` random unit vectors, its HNSW sidecar built by the writes."""
    import embedspace as es
    from embedspace.store.database import Stamp

    rng = np.random.default_rng(0)
    space = es.Space.create(
        path, encoder=Stamp("random", dim, "cosine", True), ann_threshold=threshold
    )
    step = 5000
    for start in range(0, items, step):
        count = min(step, items - start)
        ids = [str(start + i) for i in range(count)]
        space.add(ids, ids=ids, vectors=_unit(rng, count, dim))
    space.optimize()
    space.close()


def writer(path: str, number: int, rate: int, threshold: int, go: Event, stop: Event) -> None:
    """Add batches of 50 vectors at ``rate`` items/s while ``go`` is set, until ``stop``."""
    import embedspace as es

    space = es.Space.open(path, ann_threshold=threshold)
    rng = np.random.default_rng(100 + number)
    written, batch = 0, 50
    while not stop.is_set():
        if not go.wait(0.05):
            continue
        started = time.perf_counter()
        ids = [f"w{number}-{written + i}" for i in range(batch)]
        space.add(ids, ids=ids, vectors=_unit(rng, batch, space.stamp.dim))
        written += batch
        time.sleep(max(0.0, batch / rate - (time.perf_counter() - started)))
    space.close()


def read_for(
    space: object, queries: np.ndarray, seconds: float, cpu: list[float] | None = None
) -> list[float]:
    """Latencies (seconds) of back-to-back single searches for ``seconds``; ``cpu``: their
    CPU time on this thread is appended there (the reader's own work, without waiting for
    a core)."""
    latencies = []
    end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < end:
        started, own = time.perf_counter(), time.thread_time()
        found = space.search(queries[i % len(queries)], k=K)  # type: ignore[attr-defined]
        latencies.append(time.perf_counter() - started)
        if cpu is not None:
            cpu.append(time.thread_time() - own)
        if len(found) != K:
            raise SystemExit(f"a search returned {len(found)} of {K} results")
        i += 1
    return latencies


def _ms(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--phases", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rate", type=int, default=600, help="items/s per writer")
    args = parser.parse_args()

    import embedspace as es

    threshold = args.items // 3
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "readers"
        started = time.perf_counter()
        build(path, args.items, args.dim, threshold)
        print(f"built {args.items:,} x {args.dim} in {time.perf_counter() - started:.1f} s")
        context = multiprocessing.get_context("spawn")
        go, stop = context.Event(), context.Event()
        writers = [
            context.Process(target=writer, args=(str(path), n, args.rate, threshold, go, stop))
            for n in range(2)
        ]
        for process in writers:
            process.start()
        space = es.Space.open(path, ann_threshold=threshold)
        queries = _unit(np.random.default_rng(1), 1000, args.dim)
        read_for(space, queries, 1.0)  # warm: faiss loaded, the graph mapped
        idle: list[float] = []
        busy: list[float] = []
        idle_cpu: list[float] = []
        busy_cpu: list[float] = []
        before = len(space)
        busy_seconds = 0.0
        for _ in range(args.phases):
            idle += read_for(space, queries, args.seconds, idle_cpu)
            go.set()
            time.sleep(0.3)  # writers under way
            phase = time.perf_counter()
            busy += read_for(space, queries, args.seconds, busy_cpu)
            busy_seconds += time.perf_counter() - phase
            go.clear()
            time.sleep(0.3)  # writers finish their batch
        written = len(space) - before
        stop.set()
        for process in writers:
            process.join()
        graph = space._ann._graph  # noqa: SLF001 - what the reader searched
        lag = len(space._ann._recent)  # noqa: SLF001
        space.close()

    print(f"\nMachine: {machine()}")
    print(
        f"Space: {args.items:,} x {args.dim} random unit vectors, HNSW (threshold "
        f"{threshold:,}); one reader, k={K}; {args.phases} idle and {args.phases} busy phases "
        f"of {args.seconds:g} s, interleaved; busy: 2 writer processes, {written:,} items "
        f"added ({written / (busy_seconds + 0.6 * args.phases):,.0f} items/s)."
    )
    rows = [("idle", idle, idle_cpu), ("2 writers", busy, busy_cpu)]
    print(
        "\n| reader | searches | searches/s | median ms | p95 ms | max ms "
        "| CPU median ms | CPU p95 ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    total = args.phases * args.seconds
    for name, values, cpu in rows:
        print(
            f"| {name} | {len(values):,} | {len(values) / total:,.0f} | "
            f"{statistics.median(values) * 1000:.2f} | {_ms(values, 0.95):.2f} | "
            f"{max(values) * 1000:.1f} | {statistics.median(cpu) * 1000:.2f} | "
            f"{_ms(cpu, 0.95):.2f} |"
        )
    median_ratio = statistics.median(busy) / statistics.median(idle)
    p95_ratio = _ms(busy, 0.95) / _ms(idle, 0.95)
    cpu_ratios = (
        statistics.median(busy_cpu) / statistics.median(idle_cpu),
        _ms(busy_cpu, 0.95) / _ms(idle_cpu, 0.95),
    )
    print(
        f"| **busy / idle** | | | **{median_ratio:.2f}x** | **{p95_ratio:.2f}x** | "
        f"{max(busy) / max(idle):.1f}x | {cpu_ratios[0]:.2f}x | {cpu_ratios[1]:.2f}x |"
    )
    verdict = "met" if max(median_ratio, p95_ratio) <= TARGET else "NOT met"
    print(f"\nTarget (busy within {TARGET:g}x of idle, median and p95): {verdict}.")
    if graph is not None:
        print(f"At the end the reader's graph held {len(graph.rowids):,} rows; {lag:,} recent.")


if __name__ == "__main__":
    main()
