"""Nearest-neighbour search on GloVe 6B 50d (400,000 x 50, cosine).

embedspace's exact search and HNSW sidecar next to faiss (IndexFlatIP, IndexHNSWFlat) and
hnswlib, measured in the same run: build time, bytes per vector, and queries/s at the
smallest efSearch that reaches recall@10 >= 0.95 against exact ground truth. Throughput is
the median of interleaved rounds; "batch" uses every core, "single" sends one query at a
time on one thread.

    .venv/bin/python -m bench.search [--queries 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import glove, machine
from embedspace.config import cpu_count
from embedspace.store.database import Changes
from embedspace.store.exact import top_k
from embedspace.store.hnsw import HnswIndex

K, M, EF_CONSTRUCTION, TARGET = 10, 32, 80, 0.95
EXACT_SINGLE = 100  # single exact queries timed (each scans all 400k vectors)
EFS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def rate(run: Callable[[], Any], count: int) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N vectors")
    args = parser.parse_args()
    import faiss
    import hnswlib

    _, vectors = glove()
    if args.limit:
        vectors = vectors[: args.limit]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rng = np.random.default_rng(0)
    picked = rng.choice(len(vectors), args.queries, replace=False)
    queries = np.ascontiguousarray(vectors[picked])
    base = np.ascontiguousarray(np.delete(vectors, picked, axis=0))
    n, dim = base.shape
    print(f"# Search — GloVe {n} x {dim}, cosine, {args.queries} queries, {machine()}\n")

    truth, _ = top_k(base, queries, K, "cosine")
    flat = faiss.IndexFlatIP(dim)
    flat.add(base)

    built: dict[str, tuple[Any, float, float]] = {}  # name -> (index, seconds, bytes/vector)
    folder = Path(tempfile.mkdtemp())
    started = time.perf_counter()
    ours = HnswIndex(dim, "cosine", m=M, ef_construction=EF_CONSTRUCTION)
    ours.apply(Changes(1, np.arange(1, n + 1, dtype=np.int64), base, np.zeros(0, np.int64)))
    ours.save(folder)
    sidecar = sum(f.stat().st_size for f in folder.glob("hnsw*"))  # stamp + graph files
    built["embedspace HNSW"] = (ours, time.perf_counter() - started, sidecar / n)

    faiss.omp_set_num_threads(cpu_count())
    started = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = EF_CONSTRUCTION
    hnsw.add(base)
    built["faiss HNSWFlat"] = (
        hnsw,
        time.perf_counter() - started,
        faiss.serialize_index(hnsw).size / n,
    )

    started = time.perf_counter()
    other = hnswlib.Index(space="ip", dim=dim)
    other.init_index(max_elements=n, M=M, ef_construction=EF_CONSTRUCTION)
    other.add_items(base, np.arange(n), num_threads=cpu_count())
    seconds = time.perf_counter() - started
    other.save_index(str(folder / "hnswlib.bin"))
    built["hnswlib"] = (other, seconds, (folder / "hnswlib.bin").stat().st_size / n)

    def searcher(name: str, index: Any, ef: int) -> Callable[[np.ndarray, int], np.ndarray]:
        if name == "embedspace HNSW":
            return lambda q, _t: index.search(q, K, ef=ef)[0] - 1  # rowids are 1-based here
        if name == "faiss HNSWFlat":

            def run_faiss(q: np.ndarray, threads: int) -> np.ndarray:
                faiss.omp_set_num_threads(threads)
                index.hnsw.efSearch = ef
                return index.search(q, K)[1]

            return run_faiss
        index.set_ef(ef)
        return lambda q, threads: index.knn_query(q, k=K, num_threads=threads)[0]

    chosen: dict[str, tuple[int, float]] = {}
    for name, (index, _, _) in built.items():
        for ef in EFS:
            got = recall(searcher(name, index, ef)(queries, cpu_count()), truth)
            if got >= TARGET:
                chosen[name] = (ef, got)
                break
        else:
            chosen[name] = (EFS[-1], got)

    runners: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {}
    for name, (index, _, _) in built.items():
        search = searcher(name, index, chosen[name][0])
        runners[name] = (
            lambda search=search: search(queries, cpu_count()),
            lambda search=search: [search(queries[i : i + 1], 1) for i in range(len(queries))],
        )

    def faiss_flat(q: np.ndarray, threads: int) -> Any:
        faiss.omp_set_num_threads(threads)
        return flat.search(q, K)

    runners["embedspace exact"] = (
        lambda: top_k(base, queries, K, "cosine"),
        lambda: [top_k(base, queries[i : i + 1], K, "cosine") for i in range(EXACT_SINGLE)],
    )
    runners["faiss IndexFlatIP"] = (
        lambda: faiss_flat(queries, cpu_count()),
        lambda: [faiss_flat(queries[i : i + 1], 1) for i in range(EXACT_SINGLE)],
    )
    batch: dict[str, list[float]] = {name: [] for name in runners}
    single: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for round_number in range(args.rounds):
        for name in names[round_number % len(names) :] + names[: round_number % len(names)]:
            many, one = runners[name]
            batch[name].append(rate(many, len(queries)))
            single[name].append(rate(one, len(queries) if name in built else EXACT_SINGLE))

    best_ann = max(statistics.median(batch[n]) for n in built if n != "embedspace HNSW")
    best_single = max(statistics.median(single[n]) for n in built if n != "embedspace HNSW")
    print(
        "| index | build s | bytes/vector | efSearch | recall@10 | batch q/s | single q/s | "
        "batch vs best other | single vs best other |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        b, s = statistics.median(batch[name]), statistics.median(single[name])
        if name in built:
            _, secs, size = built[name]
            ef, got = chosen[name]
            cells = [f"{secs:.1f}", f"{size:.0f}", str(ef), f"{got:.3f}"]
            ratios = [f"{b / best_ann:.2f}x", f"{s / best_single:.2f}x"]
        else:
            cells = ["0", f"{dim * 4}", "-", "1.000"]
            ratios = ["-", "-"]
        print(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {b:,.0f} | {s:,.0f} | "
            + " | ".join(ratios)
            + " |"
        )


if __name__ == "__main__":
    main()
