"""The `hashing` encoder on one long text (issue 17, point 7): each distinct word hashed once
and weighted by its count, against hashing every feature of every word (the way it was), on
the same text in one run. Medians of interleaved rounds.

    .venv/bin/python -m bench.hashing [--megabytes 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import zlib
from pathlib import Path

import numpy as np

from bench.data import machine


def per_feature(encoder: object, text: str, dim: int) -> np.ndarray:
    """The earlier loop: crc32 of every feature of every word, one at a time."""
    out = np.zeros(dim, dtype=np.float32)
    for feature in encoder._features(text):  # type: ignore[attr-defined]
        code = zlib.crc32(feature.encode("utf-8"))
        out[code % dim] += 1.0 if code & 0x80000000 else -1.0
    return out / np.linalg.norm(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from embedspace.encoders.hashing import HashingEncoder, _word_features

    root = Path(__file__).resolve().parent.parent
    words = " ".join(
        p.read_text(encoding="utf-8") for p in sorted(root.glob("**/*.md")) if ".venv" not in str(p)
    ).split()
    size = int(args.megabytes * 1_000_000)
    text = " ".join(words * (size // max(1, len(" ".join(words))) + 1))[:size]
    encoder = HashingEncoder()
    now, before = [], []
    for _ in range(args.rounds):
        _word_features.cache_clear()  # every round starts cold
        started = time.perf_counter()
        fast = encoder.encode([text])[0]
        now.append(time.perf_counter() - started)
        started = time.perf_counter()
        slow = per_feature(encoder, text, encoder.dim)
        before.append(time.perf_counter() - started)
    print(machine())
    print(
        f"one text of {len(text) / 1e6:.1f} MB, {len(text.split()):,} words, "
        f"{len(set(text.lower().split())):,} distinct; identical vectors: "
        f"{bool(np.abs(fast - slow).max() < 1e-6)}"
    )
    print("| hashing | seconds (median) | ratio |")
    print("|---|---|---|")
    print(f"| every feature of every word (before) | {statistics.median(before):.2f} | 1.0x |")
    print(
        f"| each distinct word once (now) | {statistics.median(now):.2f} | "
        f"{statistics.median(before) / statistics.median(now):.0f}x |"
    )


if __name__ == "__main__":
    main()
