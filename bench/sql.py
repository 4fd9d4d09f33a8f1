"""SQL on spaces (issue 15): what DuckDB adds on top of the space's own search, and an exact
``ORDER BY cosine(...)`` over every row, on one 100,000-item space.

The space holds random unit vectors (minilm-l6's 384-d) with a ``topic`` field of 100
values (a 1% filter), filled through ``Space.add`` as bench/fresh_search.py does. Queries
are distinct texts (no memo helps), embedded by minilm-l6 in every method. Medians of
interleaved rounds.

    .venv/bin/python -m bench.sql [--items 100000] [--rounds 5] [--queries 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.data import machine


def build(home: Path, items: int) -> float:
    """The space ``news`` under ``home``; seconds taken."""
    import embedspace as es

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    with es.Space.create(home / "news", encoder="minilm-l6") as space:
        for start in range(0, items, 5000):
            count = min(5000, items - start)
            vectors = rng.normal(size=(count, space.stamp.dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            space.add(
                [f"random item {start + i}" for i in range(count)],
                ids=[str(start + i) for i in range(count)],
                metadata=[{"topic": f"t{(start + i) % 100}"} for i in range(count)],
                vectors=vectors,
            )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-sql-"))
    os.environ["EMBEDSPACE_HOME"] = str(home)
    try:
        run(home, args.items, args.rounds, args.queries)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(home: Path, items: int, rounds: int, queries: int) -> None:
    import embedspace as es

    print(f"# SQL on spaces — {machine()}\n")
    print(f"Built a {items:,}-item space in {build(home, items):.1f} s.\n")
    space = es.Space.open(home / "news")
    session = es.SqlSession()
    counter = iter(range(10**9))

    def text() -> str:
        return f"a query about topic number {next(counter)}"

    space.search(text(), 10)  # load the HNSW index once, as a running service has it
    started = time.perf_counter()
    session.query(f"SELECT id FROM news ORDER BY cosine(vector, embed('{text()}', 'news'))")
    first_read = time.perf_counter() - started
    snapshot = space.snapshot()
    encoder = space.encoder

    def numpy_exact() -> None:
        scores = snapshot.vectors @ encoder.encode([text()])[0]
        top = np.argpartition(-scores, 10)[:10]
        sorted(top, key=lambda i: -scores[i])

    methods: dict[str, Callable[[], object]] = {
        "Space.search (HNSW)": lambda: space.search(text(), 10),
        "SQL search() (session)": lambda: session.query(
            f"SELECT id, score FROM search('news', '{text()}', 10)"
        ),
        "SQL search() (es.sql, one shot)": lambda: es.sql(
            f"SELECT id, score FROM search('news', '{text()}', 10)"
        ),
        "numpy exact (vectors @ q)": numpy_exact,
        "SQL ORDER BY cosine, all rows": lambda: session.query(
            f"SELECT id FROM news ORDER BY cosine(vector, embed('{text()}', 'news')) DESC LIMIT 10"
        ),
        "SQL WHERE topic (1%) ORDER BY cosine": lambda: session.query(
            f"SELECT id FROM news WHERE topic = 't7' ORDER BY cosine(vector, "
            f"embed('{text()}', 'news')) DESC LIMIT 10"
        ),
        "Space.search where topic (1%)": lambda: space.search(text(), 10, where={"topic": "t7"}),
    }
    timings: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, method in methods.items():
            samples = []
            for _ in range(queries):
                started = time.perf_counter()
                method()
                samples.append(time.perf_counter() - started)
            timings[name].append(statistics.median(samples))
    base = statistics.median(timings["Space.search (HNSW)"])
    exact = statistics.median(timings["numpy exact (vectors @ q)"])
    print(
        f"Session's first read of the space (all {items:,} rows with vectors): {first_read:.2f} s"
    )
    print(f"\n{rounds} interleaved rounds x {queries} queries; medians, ms per query.\n")
    print("| method | ms per query | vs Space.search | vs numpy exact |")
    print("|---|---|---|---|")
    for name, values in timings.items():
        ms = statistics.median(values)
        print(f"| {name} | {1000 * ms:.1f} | {ms / base:.2f}x | {ms / exact:.2f}x |")
    session.close()
    space.close()


if __name__ == "__main__":
    main()
