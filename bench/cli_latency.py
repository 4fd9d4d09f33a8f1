"""A search on a 100,000-item space from a fresh ``embedspace`` CLI process, wall time.

Builds a 100k-item minilm-l6 space once (20,000 real sentences embedded for real, each
stored five times with slightly perturbed vectors under different ids, so the build takes
minutes, not an hour), then times ``embedspace search SPACE QUERY --json`` as new processes
(HNSW sidecar and ``--exact``, which reads the sidecar's memory-mapped vectors), median
of interleaved runs, next to ``python -c pass``, ``python -c "import click, rich"`` and
``embedspace --help`` (the floor: interpreter and import start-up), with the ratios the
performance issue sets (search <= 1.3x --help, --help <= 3x importing click and rich).

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
        "python -c 'import click, rich'": [sys.executable, "-c", "import click, rich"],
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
    medians = {name: statistics.median(values) for name, values in times.items()}
    help_s, click_s = medians["embedspace --help"], medians["python -c 'import click, rich'"]
    print("| command | median s | min s | max s | ratio | target |")
    print("|---|---|---|---|---|---|")
    for name, values in times.items():
        ratio, target = "", ""
        if name.startswith("embedspace search"):
            ratio, target = f"{medians[name] / help_s:.2f}x --help", "<= 1.3x --help"
        elif name == "embedspace --help":
            ratio, target = f"{help_s / click_s:.2f}x click+rich", "<= 3x click+rich"
        print(
            f"| {name} | {medians[name]:.3f} | {min(values):.3f} | {max(values):.3f} "
            f"| {ratio} | {target} |"
        )


if __name__ == "__main__":
    main()
