"""End to end: index 20,000 real sentences and answer 1,000 queries, wall time.

embedspace (``Space.create`` + ``add`` into SQLite + 1,000 ``search`` calls, each embedding
its query) against the same job done in memory with sentence-transformers (fp32 torch) and
a faiss ``IndexFlatIP`` — the usual hand-written pipeline, which persists nothing. Same
model, same texts and queries; rounds interleaved, medians reported.

    .venv/bin/python -m bench.end_to_end [--texts 20000] [--queries 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.data import machine, minilm_reference_dir, sentences


def run_embedspace(texts: list[str], queries: list[str]) -> tuple[float, float, list[str]]:
    import embedspace as es

    started = time.perf_counter()
    space = es.Space.create(Path(tempfile.mkdtemp()) / "bench", encoder="minilm-l6")
    space.add(texts, ids=[str(i) for i in range(len(texts))])
    indexed = time.perf_counter()
    top = [space.search(q, k=10)[0].id for q in queries]
    space.close()
    return indexed - started, time.perf_counter() - indexed, top


def run_baseline(texts: list[str], queries: list[str]) -> tuple[float, float, list[str]]:
    import faiss
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    model = SentenceTransformer(str(minilm_reference_dir()), device="cpu")
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.asarray(vectors, dtype=np.float32))
    indexed = time.perf_counter()
    top = []
    for query in queries:
        vector = model.encode([query], normalize_embeddings=True)
        top.append(str(index.search(np.asarray(vector, dtype=np.float32), 10)[1][0][0]))
    return indexed - started, time.perf_counter() - indexed, top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    corpus = sentences()
    rng = np.random.default_rng(1)
    order = rng.permutation(len(corpus))
    texts = [corpus[i] for i in order[: args.texts]]
    queries = [
        " ".join(corpus[i].split()[:6]) for i in order[args.texts : args.texts + args.queries]
    ]
    runners = {
        "embedspace (SQLite space, exact search)": run_embedspace,
        "sentence-transformers + faiss IndexFlatIP (in memory)": run_baseline,
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
    tops: dict[str, list[str]] = {}
    for round_number in range(args.rounds):
        names = list(runners) if round_number % 2 == 0 else list(runners)[::-1]
        for name in names:
            index_s, query_s, tops[name] = runners[name](texts, queries)
            results[name].append((index_s, query_s))
    same = np.mean([a == b for a, b in zip(*tops.values(), strict=True)])
    words = np.median([len(t.split()) for t in texts])
    print(
        f"# End to end — {len(texts)} sentences (median {words:.0f} words), {len(queries)} "
        f"queries, {args.rounds} rounds, {machine()}\n"
    )
    print("| pipeline | index s | 1,000 queries s | ms/query | total s | total vs baseline |")
    print("|---|---|---|---|---|---|")
    totals = {n: statistics.median(i + q for i, q in r) for n, r in results.items()}
    baseline = totals["sentence-transformers + faiss IndexFlatIP (in memory)"]
    for name, rounds in results.items():
        index_s = statistics.median(i for i, _ in rounds)
        query_s = statistics.median(q for _, q in rounds)
        print(
            f"| {name} | {index_s:.1f} | {query_s:.1f} | {1000 * query_s / len(queries):.1f} | "
            f"{totals[name]:.1f} | {baseline / totals[name]:.2f}x faster |"
        )
    print(f"\nSame top-1 result for {same:.1%} of queries.")


if __name__ == "__main__":
    main()
