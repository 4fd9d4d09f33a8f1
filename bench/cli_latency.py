"""A search on a 100,000-item space from a fresh ``embedspace`` CLI process, wall time.

Builds a 100k-item minilm-l6 space once (20,000 real sentences embedded for real, each
stored five times with slightly perturbed vectors under different ids, so the build takes
minutes, not an hour), then times ``embedspace search SPACE QUERY --json`` as new processes
(HNSW sidecar and ``--exact``), median of the runs, next to ``python -c pass`` and
``embedspace --help`` (the floor: interpreter and import start-up).

    .venv/bin/python -m bench.cli_latency [--items 100000] [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.data import machine, sentences


def build(path: Path, items: int) -> None:
    import embedspace as es

    corpus = sentences()[:20000]
    vectors = es.embed(corpus, "minilm-l6", progress=True)
    rng = np.random.default_rng(0)
    space = es.Space.create(path, encoder="minilm-l6")
    copies = -(-items // len(corpus))
    for copy in range(copies):
        count = min(len(corpus), items - copy * len(corpus))
        noisy = vectors[:count] + rng.normal(scale=0.01, size=(count, vectors.shape[1]))
        space.add(
            [f"{t} ({copy})" for t in corpus[:count]],
            ids=[f"{copy}-{i}" for i in range(count)],
            vectors=noisy.astype(np.float32),
        )
    space.optimize()
    space.close()


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp()) / "cli-bench"
    build(path, args.items)
    cli = [sys.executable, "-m", "embedspace"]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "embedspace --help": [*cli, "--help"],
        "embedspace search (HNSW)": [
            *cli,
            "search",
            str(path),
            "history of the Roman empire",
            "--json",
        ],
        "embedspace search --exact": [
            *cli,
            "search",
            str(path),
            "history of the Roman empire",
            "--json",
            "--exact",
        ],
    }
    wall(commands["embedspace search (HNSW)"])  # warm the page cache once
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            times[name].append(wall(command))
    print(f"# Fresh-process CLI search on a {args.items:,}-item space — {machine()}\n")
    print("| command | median s | min s | max s | target |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        target = "< 1 s" if name.startswith("embedspace search") else ""
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {min(values):.3f} | {max(values):.3f} | {target} |")


if __name__ == "__main__":
    main()
