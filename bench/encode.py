"""Encoding throughput: embedspace ``minilm-l6`` (onnxruntime) vs sentence-transformers fp32.

Same model (all-MiniLM-L6-v2), same >= 5,000 real sentences, runs interleaved; prints
sentences/s (median of the rounds), the ratio, and fidelity (cosine to the fp32 reference).
``--encoders`` adds others (``minilm-static``: a distilled static table, another space, so
no cosine to the reference is shown; its quality is measured by bench.search_quality).

    .venv/bin/python -m bench.encode [--sentences 5000] [--rounds 3] [--encoders minilm-l6,minilm-static]
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
    parser.add_argument("--encoders", default="minilm-l6")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from embedspace import encoders

    corpus = sentences()
    rng = np.random.default_rng(0)
    picked = [corpus[i] for i in rng.choice(len(corpus), args.sentences, replace=False)]
    short = sorted(corpus, key=lambda s: len(s.split()))[: args.sentences]
    names = args.encoders.split(",")
    mine = {name: encoders.get(name) for name in names}
    reference = SentenceTransformer(str(minilm_reference_dir()), device="cpu")
    for encoder in mine.values():
        encoder.encode(picked[:64])  # load every model before timing
    reference.encode(picked[:64])

    print(f"# Encoding throughput — {machine()}, torch threads {torch.get_num_threads()}")
    print()
    print(
        "| corpus | runtime | sentences/s | vs sentence-transformers | cosine to fp32 mean / min |"
    )
    print("|---|---|---|---|---|")
    for label, texts in (("random", picked), ("shortest", short)):
        words = np.median([len(t.split()) for t in texts])
        timings: dict[str, list[float]] = {name: [] for name in [*names, "st"]}
        outputs: dict[str, np.ndarray] = {}
        for round_number in range(args.rounds):
            order = [*names, "st"] if round_number % 2 == 0 else ["st", *names]
            for name in order:
                if name == "st":
                    seconds, out = _time(lambda texts=texts: reference.encode(texts, batch_size=32))
                else:
                    seconds, out = _time(lambda texts=texts, name=name: mine[name].encode(texts))
                timings[name].append(seconds)
                outputs[name] = np.asarray(out, dtype=np.float32)
        rate = {k: len(texts) / statistics.median(v) for k, v in timings.items()}
        title = f"{label} {len(texts)} (median {words:.0f} words)"
        print(
            f"| {title} | sentence-transformers fp32 (torch) | {rate['st']:.0f} | 1.00x | 1 / 1 |"
        )
        for name in names:
            if outputs[name].shape == outputs["st"].shape:
                cosine = (outputs[name] * outputs["st"]).sum(axis=1)
                fidelity = f"{cosine.mean():.5f} / {cosine.min():.5f}"
            else:
                fidelity = "— (another space)"
            print(
                f"| {title} | embedspace {name} | {rate[name]:.0f} | "
                f"{rate[name] / rate['st']:.2f}x | {fidelity} |"
            )


if __name__ == "__main__":
    main()
