"""A fresh-process ``embedspace search`` on a 100,000-item space filled through the Python
API, against ``embedspace --help`` (the floor: interpreter start and imports), as a ratio.

The space is filled as a Python user would: ``Space.create`` with ``minilm-l6``, then 50
``Space.add`` calls of 2,000 random unit vectors each. The add that reaches the ANN
threshold (50,000) builds the HNSW index, later adds update it. Then new processes run,
interleaved: ``embedspace --help`` and ``embedspace search SPACE "history of the Roman
empire" --json``. The first search is timed on its own too: a search that had to build the
index would show there. Target: median search / median help <= 1.5.

    .venv/bin/python -m bench.fresh_search [--items 100000] [--batches 50] [--runs 10]
                                           [--space PATH]   # reuse a space built before
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.cli_latency import wall
from bench.data import machine

QUERY = "history of the Roman empire"
TARGET = 1.5


def build(path: Path, items: int, batches: int) -> list[float]:
    """Fill a new space with random unit vectors through ``Space.add``; seconds per add."""
    import embedspace as es

    rng = np.random.default_rng(0)
    space = es.Space.create(path, encoder="minilm-l6")
    per_batch = -(-items // batches)
    seconds = []
    for batch in range(batches):
        count = min(per_batch, items - batch * per_batch)
        vectors = rng.normal(size=(count, space.stamp.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        started = time.perf_counter()
        space.add(
            [f"random item {batch}-{i}" for i in range(count)],
            ids=[f"{batch}-{i}" for i in range(count)],
            vectors=vectors,
        )
        seconds.append(time.perf_counter() - started)
    space.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--space", type=Path, help="an existing space to search (no build)")
    args = parser.parse_args()
    folder = None
    if args.space is None:
        folder = Path(tempfile.mkdtemp(prefix="fresh-search-"))
        path = folder / "space"
        adds = build(path, args.items, args.batches)
    else:
        path, adds = args.space, []
    cli = [sys.executable, "-m", "embedspace"]
    commands = {
        "embedspace --help": [*cli, "--help"],
        "embedspace search": [*cli, "search", str(path), QUERY, "--json"],
    }
    try:
        first = wall(commands["embedspace search"])
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                times[name].append(wall(command))
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["embedspace search"] / medians["embedspace --help"]
    print(f"# Fresh-process search on a space filled through Space.add — {machine()}\n")
    if adds:
        slowest = int(np.argmax(adds))
        print(
            f"{len(adds)} adds of {args.items // len(adds):,} vectors: {sum(adds):.1f} s in "
            f"all; the slowest (add {slowest + 1}, building the HNSW index) {max(adds):.1f} s; "
            f"the median add {statistics.median(adds):.2f} s.\n"
        )
    print(f"First search after the build: {first:.3f} s.\n")
    print("| command | median s | min s | max s |")
    print("|---|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {medians[name]:.3f} | {min(values):.3f} | {max(values):.3f} |")
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"\nsearch / --help = {ratio:.2f}x (target <= {TARGET}x: {verdict})")


if __name__ == "__main__":
    main()
