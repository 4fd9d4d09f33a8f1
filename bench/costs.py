"""How cost grows with the number of vectors: exact search, HNSW, and the quantised HNSWs.

For each size (default 10,000, 100,000 and 1,000,000 vectors of 384 dimensions) and each
way of searching, a space is built in a new process (``Space.add`` in batches of 10,000
with the vectors given, then ``optimize``), closed, opened again and searched with single
queries, k = 10. Reported: build seconds, bytes on disk (SQLite and the HNSW sidecar) and
per vector, resident memory the searches added (mapped sidecar pages included), query
p50/p99 and recall@10 against exact float32 search (faiss brute force).

* ``exact``: no HNSW index (``ann_threshold`` above the size): every vector in memory.
* ``exact-mapped``: ``--exact`` on the ``hnsw`` space (measured with it): brute force over
  the sidecar's memory-mapped vectors (what a fresh ``embedspace search --exact`` does).
* ``hnsw``, ``hnsw-fp16``, ``hnsw-sq8``: the space setting ``ann`` (the last two
  re-score their candidates from the float32 vectors in SQLite).

Vectors are synthetic (a mixture of 2,000 anisotropic clusters on the unit sphere, queries
drawn from the same mixture); ``--real`` adds a row per kind on 20,000 real sentences
embedded with minilm-l6 (queries: 1,000 other sentences).

    .venv/bin/python -m bench.costs [--sizes 10000,100000,1000000] [--queries 1000]
        [--kinds exact,hnsw,hnsw-fp16,hnsw-sq8] [--real]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.data import machine, sentences

DIM = 384
KINDS = ("exact", "hnsw", "hnsw-fp16", "hnsw-sq8")  # hnsw also measures exact-mapped
BATCH = 10_000


def synthetic(n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors from a fixed mixture of 2,000 clusters (the mixture is the same
    for every seed; ``seed`` picks the points)."""
    shape = np.random.default_rng(12345)
    centres = shape.normal(size=(2000, DIM)).astype(np.float32)
    spread = shape.uniform(0.3, 1.2, size=(2000, 1)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        which = rng.integers(0, 2000, stop - start)
        noise = rng.normal(size=(stop - start, DIM)).astype(np.float32)
        out[start:stop] = centres[which] + spread[which] * noise
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def real(queries: int) -> tuple[np.ndarray, np.ndarray]:
    import embedspace as es

    corpus = sentences()
    texts, asked = corpus[:20000], corpus[20000 : 20000 + queries]
    return es.embed(texts, "minilm-l6"), es.embed(asked, "minilm-l6")


def rss() -> int:
    """Resident bytes of this process (file-backed mapped pages included)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def run_one(size: int, kind: str, queries: int, data: str) -> list[dict[str, object]]:
    import faiss

    import embedspace as es
    from embedspace.store.database import Stamp

    if data == "real":
        vectors, asked = real(queries)
    else:
        vectors, asked = synthetic(size, seed=1), synthetic(queries, seed=2)
    size = len(vectors)
    folder = Path(tempfile.mkdtemp(prefix="costs-", dir=os.environ.get("BENCH_TMP")))
    path = folder / "space"
    ann = "hnsw" if kind.startswith("exact") else kind
    threshold = size + 1 if kind == "exact" else 1000
    stamp = Stamp("vectors", DIM, "cosine", True)
    started = time.perf_counter()
    # Added below the threshold, then the index built once (as 'embedspace index' does)
    space = es.Space.create(path, encoder=stamp, ann_threshold=size + 1, ann=ann)
    for start in range(0, size, BATCH):
        stop = min(size, start + BATCH)
        ids = [str(i) for i in range(start, stop)]
        space.add(ids, ids=ids, vectors=vectors[start:stop])
    space.close()
    added = time.perf_counter() - started
    with es.Space.open(path, ann_threshold=threshold) as space:
        space.optimize()
    build = time.perf_counter() - started
    database = sum(f.stat().st_size for f in path.glob("space.db*"))
    sidecar = sum(f.stat().st_size for f in path.glob("hnsw*"))
    truth_index = faiss.IndexFlatIP(DIM)
    truth_index.add(vectors)
    _, truth = truth_index.search(asked, 10)
    del truth_index
    common = {"size": size, "data": data, "build_s": build, "add_s": added}
    common |= {"database_bytes": database, "sidecar_bytes": sidecar}
    rows = [{**common, "kind": kind, **_queries(path, threshold, asked, truth, kind == "exact")}]
    if kind == "hnsw":  # --exact on the same space: the sidecar's mapped vectors
        rows.append(
            {**common, "kind": "exact-mapped", **_queries(path, threshold, asked, truth, True)}
        )
    shutil.rmtree(folder, ignore_errors=True)
    return rows


def _queries(
    path: Path, threshold: int, asked: np.ndarray, truth: np.ndarray, exact: bool
) -> dict[str, float]:
    import embedspace as es

    before = rss()
    space = es.Space.open(path, ann_threshold=threshold)
    space.search(asked[0], k=10, exact=exact)  # opens the sidecar / reads the vectors
    latencies, hits = [], 0
    for row, query in enumerate(asked):
        began = time.perf_counter()
        found = space.search(query, k=10, exact=exact)
        latencies.append(time.perf_counter() - began)
        hits += len({int(m.id) for m in found} & set(truth[row].tolist()))
    memory = rss() - before
    space.close()
    return {
        "memory_bytes": memory,
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
        "recall": hits / (10 * len(asked)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--real", action="store_true")
    parser.add_argument("--one", nargs=3, metavar=("SIZE", "KIND", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = run_one(int(args.one[0]), args.one[1], args.queries, args.one[2])
        print(json.dumps(result))
        return
    kinds = args.kinds.split(",")
    plan = [(int(s), k, "synthetic") for s in args.sizes.split(",") for k in kinds]
    if args.real:
        plan += [(20000, k, "real") for k in kinds]
    rows = []
    for size, kind, data in plan:
        command = [sys.executable, "-m", "bench.costs", "--queries", str(args.queries)]
        done = subprocess.run(
            [*command, "--one", str(size), kind, data], capture_output=True, text=True
        )
        if done.returncode != 0:
            print(f"{size} {kind} {data} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows += json.loads(done.stdout.strip().splitlines()[-1])
        print(done.stdout.strip().splitlines()[-1], file=sys.stderr, flush=True)
    print(f"# How cost grows ({args.queries} single queries, k=10, 384-d) — {machine()}\n")
    print(
        "| vectors | data | search | add s | build s | SQLite MB | HNSW MB | index B/vector "
        "| vs hnsw | memory MB | p50 ms | p99 ms | recall@10 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    flat = {(r["size"], r["data"]): r["sidecar_bytes"] for r in rows if r["kind"] == "hnsw"}
    for r in rows:
        per = r["sidecar_bytes"] / r["size"]
        base = flat.get((r["size"], r["data"]))
        ratio = f"{r['sidecar_bytes'] / base:.2f}" if base and r["kind"].startswith("hnsw") else ""
        print(
            f"| {r['size']:,} | {r['data']} | {r['kind']} | {r['add_s']:.1f} | {r['build_s']:.1f} "
            f"| {r['database_bytes'] / 1e6:.0f} | {r['sidecar_bytes'] / 1e6:.0f} | {per:.0f} "
            f"| {ratio} | {r['memory_bytes'] / 1e6:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['recall']:.3f} |"
        )


if __name__ == "__main__":
    main()
