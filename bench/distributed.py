"""Batch embedding on Ray (issue 15): ``index --engine ray`` against the same index in one
process, on the same real sentences, same encoder, same machine.

Each round indexes the corpus into a new space twice, once per engine, in alternating
order; the Ray run includes starting and stopping its local Ray (as the command does).
Medians of the rounds.

    .venv/bin/python -m bench.distributed [--sentences 100000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.data import machine, sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sentences", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--encoder", default="minilm-l6")
    args = parser.parse_args()
    from embedspace.ops.ingest import ingest
    from embedspace.ops.ray_engine import RayEngine

    folder = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    os.environ["EMBEDSPACE_HOME"] = str(folder / "home")
    try:
        texts = sentences()
        texts = (texts * (args.sentences // len(texts) + 1))[: args.sentences]
        texts = [f"{t} ({i})" for i, t in enumerate(texts)]  # all distinct: all embedded
        corpus = folder / "corpus.csv"
        with corpus.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text"])
            writer.writerows([str(i), t] for i, t in enumerate(texts))
        # prepare the model once, outside the timings
        ingest("warm", [_small(folder)], text_fields=["text"], encoder=args.encoder)
        print(f"# Ray vs one process — {machine()}\n")
        times: dict[str, list[float]] = {"local": [], "ray": []}
        for round_number in range(args.rounds):
            order = ["local", "ray"] if round_number % 2 == 0 else ["ray", "local"]
            for engine in order:
                started = time.perf_counter()
                report = ingest(
                    f"{engine}-{round_number}",
                    [corpus],
                    text_fields=["text"],
                    encoder=args.encoder,
                    engine=RayEngine() if engine == "ray" else None,
                )
                seconds = time.perf_counter() - started
                assert report.embedded == len(texts), report
                times[engine].append(seconds)
                print(f"round {round_number + 1}: {engine}: {seconds:.1f} s", flush=True)
        local, ray = (statistics.median(times[e]) for e in ("local", "ray"))
        print(f"\n{len(texts):,} sentences, encoder {args.encoder}, {args.rounds} rounds:\n")
        print("| engine | seconds | sentences/s | vs one process |")
        print("|---|---|---|---|")
        for name, value in (("one process", local), ("Ray (local, 2 CPUs)", ray)):
            print(f"| {name} | {value:.1f} | {len(texts) / value:,.0f} | {value / local:.2f}x |")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _small(folder: Path) -> Path:
    path = folder / "warm.csv"
    path.write_text("id,text\na,warm up the model\n")
    return path


if __name__ == "__main__":
    main()
