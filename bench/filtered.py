"""Filtered vector search: the same vectors, the same filters, embedspace next to Chroma and
LanceDB, and next to embedspace without its remembered selections (the code before them).

100,000 items of 384-d vectors (around 200 centres, unit length) with metadata ``topic``
(0-9) and ``price`` (0-999), and queries near stored items, searched for their 10 nearest
among the items a filter keeps:

- ``topic = 3`` keeps 10%, ``topic in (1, 2)`` 20%, ``price < 600`` 60%.
- embedspace: a SQLite space (``Space.search(vector, where=...)`` one query at a time;
  ``Space.search_embedded`` for the whole batch, as ``search_many`` calls it), HNSW sidecar
  built. Each run starts with its selection cache empty, so it scans the filter once;
  "before" empties it before every search, which is what every filtered search did before
  the cache (scan every item's metadata).
- Chroma: ``PersistentClient``, ``collection.query(query_embeddings=..., where=...)`` one
  query at a time and all at once (per its max batch size); its HNSW index, prefiltered.
- LanceDB: ``table.search(vector).where(sql, prefilter=True)``, one query at a time, no
  vector index (a table without one is scanned exactly).

ms/query are medians of interleaved rounds; recall@10 is against numpy over the kept rows.

    .venv/bin/python -m bench.filtered [--items 100000] [--queries 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import machine

K, DIM = 10, 384
FILTERS: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    # name: (embedspace where, Chroma where, LanceDB SQL)
    "topic = 3 (10%)": ({"topic": 3}, {"topic": 3}, "topic = 3"),
    "topic in (1, 2) (20%)": (
        {"topic": {"in": [1, 2]}},
        {"topic": {"$in": [1, 2]}},
        "topic IN (1, 2)",
    ),
    "price < 600 (60%)": ({"price": {"<": 600}}, {"price": {"$lt": 600}}, "price < 600"),
}
Searcher = Callable[[np.ndarray], list[list[int]]]  # queries -> ids (as ints) per query


def data(items: int, queries: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectors, topics, prices and queries (perturbed stored vectors), seeded."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, DIM))
    vectors = centres[rng.integers(0, 200, items)] + 0.8 * rng.normal(size=(items, DIM))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    topics, prices = np.arange(items) % 10, rng.integers(0, 1000, items)
    asked = vectors[rng.choice(items, queries, replace=False)] + 0.05 * rng.normal(
        size=(queries, DIM)
    )
    asked = (asked / np.linalg.norm(asked, axis=1, keepdims=True)).astype(np.float32)
    return vectors, topics, prices, asked


def truth(vectors: np.ndarray, kept: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    rows = np.flatnonzero(kept)
    scores = queries @ vectors[rows].T
    return [set(rows[np.argsort(-s)[:K]].tolist()) for s in scores]


def embedspace_searchers(folder: Path, vectors: np.ndarray, meta: list[dict[str, Any]]) -> Any:
    import embedspace as es

    space = es.Space.create(folder / "space", encoder="minilm-l6")  # vectors given: no model
    for start in range(0, len(vectors), 20_000):
        space.add(
            [f"item {i}" for i in range(start, min(start + 20_000, len(vectors)))],
            ids=[str(i) for i in range(start, min(start + 20_000, len(vectors)))],
            vectors=vectors[start : start + 20_000],
            metadata=meta[start : start + 20_000],
        )
    space.optimize()

    def one(where: dict[str, Any], forget: bool) -> Searcher:
        def run(queries: np.ndarray) -> list[list[int]]:
            found = []
            space._search._selections.clear()  # each run pays for one scan at least
            for query in queries:
                if forget:
                    space._search._selections.clear()
                found.append([int(m.id) for m in space.search(query, K, where=where)])
            return found

        return run

    def batch(where: dict[str, Any]) -> Searcher:
        def run(queries: np.ndarray) -> list[list[int]]:
            space._search._selections.clear()  # the batch pays for its own scan
            texts = [f"query {i}" for i in range(len(queries))]
            answers = space.search_embedded(texts, queries, K, where=where)
            return [[int(m.id) for m in found] for found in answers]

        return run

    return one, batch


def chroma_searchers(folder: Path, vectors: np.ndarray, meta: list[dict[str, Any]]) -> Any:
    chromadb: Any = importlib.import_module("chromadb")
    client = chromadb.PersistentClient(
        path=str(folder / "chroma"), settings=chromadb.Settings(anonymized_telemetry=False)
    )
    collection = client.create_collection("bench", embedding_function=None)
    step = client.get_max_batch_size()
    for start in range(0, len(vectors), step):
        end = min(start + step, len(vectors))
        collection.add(
            ids=[str(i) for i in range(start, end)],
            embeddings=vectors[start:end],
            metadatas=meta[start:end],
        )

    def run(where: dict[str, Any], queries: np.ndarray, per_call: int) -> list[list[int]]:
        found = []
        for start in range(0, len(queries), per_call):
            ids = collection.query(
                query_embeddings=queries[start : start + per_call], n_results=K, where=where
            )["ids"]
            found += [[int(i) for i in row] for row in ids]
        return found

    def one(where: dict[str, Any]) -> Searcher:
        return lambda queries: run(where, queries, 1)

    def batch(where: dict[str, Any]) -> Searcher:
        return lambda queries: run(where, queries, step)

    return one, batch


def lancedb_searcher(folder: Path, vectors: np.ndarray, meta: list[dict[str, Any]]) -> Any:
    lancedb: Any = importlib.import_module("lancedb")
    pyarrow: Any = importlib.import_module("pyarrow")
    table = lancedb.connect(str(folder / "lance")).create_table(
        "bench",
        pyarrow.table(
            {
                "id": np.arange(len(vectors)),
                "vector": pyarrow.FixedSizeListArray.from_arrays(vectors.reshape(-1), DIM),
                "topic": [m["topic"] for m in meta],
                "price": [m["price"] for m in meta],
            }
        ),
    )

    def one(sql: str) -> Searcher:
        def run(queries: np.ndarray) -> list[list[int]]:
            return [
                table.search(q)
                .metric("cosine")
                .where(sql, prefilter=True)
                .limit(K)
                .to_arrow()["id"]
                .to_pylist()
                for q in queries
            ]

        return run

    return one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    vectors, topics, prices, queries = data(args.items, args.queries)
    meta = [{"topic": int(t), "price": int(p)} for t, p in zip(topics, prices, strict=True)]
    kept = {
        "topic = 3 (10%)": topics == 3,
        "topic in (1, 2) (20%)": (topics == 1) | (topics == 2),
        "price < 600 (60%)": prices < 600,
    }
    folder = Path(tempfile.mkdtemp())
    print(f"# Filtered search — {args.items:,} x {DIM}, {args.queries} queries, {machine()}\n")
    built = time.perf_counter()
    es_one, es_batch = embedspace_searchers(folder, vectors, meta)
    print(f"embedspace space built in {time.perf_counter() - built:.1f} s")
    runners: dict[str, dict[str, Searcher]] = {name: {} for name in FILTERS}
    for name, (where, _, _) in FILTERS.items():
        runners[name]["embedspace, one at a time"] = es_one(where, False)
        runners[name]["embedspace, one at a time, before (scan each time)"] = es_one(where, True)
        runners[name]["embedspace, all in one call"] = es_batch(where)
    try:
        built = time.perf_counter()
        ch_one, ch_batch = chroma_searchers(folder, vectors, meta)
        print(f"Chroma collection built in {time.perf_counter() - built:.1f} s")
        for name, (_, where, _) in FILTERS.items():
            runners[name]["Chroma, one at a time"] = ch_one(where)
            runners[name]["Chroma, all in one call"] = ch_batch(where)
    except ImportError as error:
        print(f"Chroma: not installed ({error}); ./install.sh --bench")
    try:
        built = time.perf_counter()
        lance_one = lancedb_searcher(folder, vectors, meta)
        print(f"LanceDB table built in {time.perf_counter() - built:.1f} s")
        for name, (_, _, sql) in FILTERS.items():
            runners[name]["LanceDB, one at a time (prefilter, no vector index: exact)"] = lance_one(
                sql
            )
    except ImportError as error:
        print(f"LanceDB: not installed ({error}); ./install.sh --bench")

    times: dict[tuple[str, str], list[float]] = {}
    recalls: dict[tuple[str, str], float] = {}
    answers = {name: truth(vectors, kept[name], queries) for name in FILTERS}
    for round_number in range(args.rounds):
        for name, pipelines in runners.items():
            order = list(pipelines)
            shift = round_number % len(order)
            for pipeline in order[shift:] + order[:shift]:
                started = time.perf_counter()
                found = pipelines[pipeline](queries)
                seconds = time.perf_counter() - started
                times.setdefault((name, pipeline), []).append(1000 * seconds / len(queries))
                if round_number == 0:
                    hits = [len(set(f) & t) / K for f, t in zip(found, answers[name], strict=True)]
                    recalls[(name, pipeline)] = float(np.mean(hits))
    print()
    print("| filter | pipeline | ms/query | recall@10 | ÷ embedspace one at a time |")
    print("|---|---|---|---|---|")
    for name, pipelines in runners.items():
        ours = statistics.median(times[(name, "embedspace, one at a time")])
        for pipeline in pipelines:
            ms = statistics.median(times[(name, pipeline)])
            print(
                f"| {name} | {pipeline} | {ms:.2f} | {recalls[(name, pipeline)]:.3f} | "
                f"{ms / ours:.1f}x |"
            )


if __name__ == "__main__":
    main()
