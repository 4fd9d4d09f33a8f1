"""Embedding one short query (six words) with minilm-l6: the default (one onnxruntime thread
for up to four texts) against a session with one and with two intra-op threads, 300 queries
through each in turn, median. A lever for the per-query latency of bench.peers (RESULTS §21).

    .venv/bin/python -m bench.query_threads
"""

import time

import numpy as np

from bench.data import machine, sentences
from embedspace.encoders import get as get_encoder
from embedspace.encoders.threads import encoder_threads


def main() -> None:
    enc = get_encoder("minilm-l6")
    qs = [" ".join(s.split()[:6]) for s in sentences()[20000:20300]]
    enc.encode(qs[:5])
    print(f"# One six-word query, minilm-l6 — {machine()}\n")
    configs = [("default (1 for <= 4 texts)", None), ("1", 1), ("2", 2)]
    times: dict[str, list[float]] = {label: [] for label, _ in configs}
    for q in qs:  # interleaved: each query through every setting in turn
        for label, count in configs:
            started = time.perf_counter()
            if count is None:
                enc.encode([q])
            else:
                with encoder_threads(count):
                    enc.encode([q])
            times[label].append(time.perf_counter() - started)
    print("| threads | p50 ms |")
    print("|---|---|")
    for label, values in times.items():
        print(f"| {label} | {np.median(values) * 1000:.2f} |")


if __name__ == "__main__":
    main()
