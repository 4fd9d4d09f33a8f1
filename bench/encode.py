"""Encoding throughput: embedspace ``minilm-l6`` (onnxruntime) vs sentence-transformers fp32.

Same model (all-MiniLM-L6-v2), same >= 5,000 real sentences, runs interleaved; prints
sentences/s (median of the rounds), the ratio, and fidelity (cosine to the fp32 reference).

    .venv/bin/python -m bench.encode [--sentences 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from bench.data import machine, minilm_reference_dir, sentences


def _time(run: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    out = run()
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sentences", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from embedspace import encoders

    corpus = sentences()
    rng = np.random.default_rng(0)
    picked = [corpus[i] for i in rng.choice(len(corpus), args.sentences, replace=False)]
    short = sorted(corpus, key=lambda s: len(s.split()))[: args.sentences]
    ours = encoders.get("minilm-l6")
    reference = SentenceTransformer(str(minilm_reference_dir()), device="cpu")
    ours.encode(picked[:64])  # load both models before timing
    reference.encode(picked[:64])

    print(f"# Encoding throughput — {machine()}, torch threads {torch.get_num_threads()}")
    print()
    print(
        "| corpus | runtime | sentences/s | vs sentence-transformers | cosine to fp32 mean / min |"
    )
    print("|---|---|---|---|---|")
    for label, texts in (("random", picked), ("shortest", short)):
        words = np.median([len(t.split()) for t in texts])
        timings: dict[str, list[float]] = {"ours": [], "st": []}
        outputs: dict[str, np.ndarray] = {}
        for round_number in range(args.rounds):
            order = ["ours", "st"] if round_number % 2 == 0 else ["st", "ours"]
            for name in order:
                if name == "ours":
                    seconds, out = _time(lambda texts=texts: ours.encode(texts))
                else:
                    seconds, out = _time(lambda texts=texts: reference.encode(texts, batch_size=32))
                timings[name].append(seconds)
                outputs[name] = np.asarray(out, dtype=np.float32)
        rate = {k: len(texts) / statistics.median(v) for k, v in timings.items()}
        cosine = (outputs["ours"] * outputs["st"]).sum(axis=1)
        name = f"{label} {len(texts)} (median {words:.0f} words)"
        print(f"| {name} | sentence-transformers fp32 (torch) | {rate['st']:.0f} | 1.00x | 1 / 1 |")
        print(
            f"| {name} | embedspace minilm-l6 (onnxruntime) | {rate['ours']:.0f} | "
            f"{rate['ours'] / rate['st']:.2f}x | {cosine.mean():.5f} / {cosine.min():.5f} |"
        )


if __name__ == "__main__":
    main()
