"""Typo correction accuracy@1 on codespell's misspelling -> correction pairs.

The pairs with a single, alphabetic correction are split in two (seeded): the speller's
two weights (edit cost, n-gram weight) are chosen on the first half, and accuracy@1 is
measured on the second, against a plain edit-distance baseline on the same words and the
same vocabulary (GloVe's 100,000 most frequent words): the known word with the fewest
edits (Levenshtein), ties going to the more frequent word.

    .venv/bin/python -m bench.typos [--pairs 4000]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from bench.data import machine


def codespell_pairs() -> list[tuple[str, str]]:
    import codespell_lib

    pairs = []
    text = (Path(codespell_lib.__file__).parent / "data" / "dictionary.txt").read_text()
    for line in text.splitlines():
        wrong, _, right = line.partition("->")
        right = right.strip().rstrip(",")
        if "," in right or not wrong.isalpha() or not right.isalpha():
            continue
        pairs.append((wrong.lower(), right.lower()))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=4000)
    args = parser.parse_args()

    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    from embedspace.encoders import get
    from embedspace.ops.typos import Speller

    print(machine())
    glove = get("glove-50")
    speller = Speller.from_word_vectors(glove)
    known = set(speller.words)
    everything = [p for p in codespell_pairs() if p[1] in known]
    rng = np.random.default_rng(0)
    picked = [everything[i] for i in rng.choice(len(everything), args.pairs, replace=False)]
    fit, test = picked[: len(picked) // 2], picked[len(picked) // 2 :]
    started = time.perf_counter()
    pools = {wrong: speller.pool(wrong) for wrong, _ in picked}
    pool_seconds = (time.perf_counter() - started) / len(picked)

    def accuracy(pairs: list[tuple[str, str]], edit_cost: float, ngram: float) -> float:
        speller.edit_cost, speller.ngram_weight = edit_cost, ngram
        hits = 0
        for wrong, right in pairs:
            best = speller.candidates(wrong, pool=pools[wrong], limit=1)
            hits += bool(best) and best[0].word == right
        return hits / len(pairs)

    grid = list(itertools.product([3.0, 5.0, 7.0, 9.0, 11.0, 14.0], [0.0, 1.0, 2.0, 4.0]))
    scored = {params: accuracy(fit, *params) for params in grid}
    best = max(scored, key=lambda p: scored[p])
    ours = accuracy(test, *best)

    started = time.perf_counter()
    hits = 0
    for wrong, right in test:
        found = process.extractOne(wrong, speller.words, scorer=Levenshtein.distance)
        hits += (
            found is not None and found[0] == right
        )  # extractOne keeps the first (most frequent) of ties
    baseline_seconds = (time.perf_counter() - started) / len(test)
    baseline = hits / len(test)

    print(
        f"\ncodespell pairs whose correction GloVe knows: {len(everything)}; sampled {len(picked)}"
    )
    print(
        f"weights chosen on {len(fit)} pairs: edit cost {best[0]}, n-gram weight {best[1]} "
        f"(fit accuracy {scored[best]:.3f})"
    )
    print(f"\n| corrector ({len(test)} held-out misspellings) | accuracy@1 | ms/word |")
    print("|---|---|---|")
    print(
        "| edit distance baseline (fewest edits, then most frequent) "
        f"| {baseline:.3f} | {baseline_seconds * 1000:.1f} |"
    )
    print(
        "| embedspace Speller (noisy channel + trigrams) "
        f"| {ours:.3f} | {pool_seconds * 1000:.1f} |"
    )
    print(f"| ratio | {ours / baseline:.2f}x | |")


if __name__ == "__main__":
    main()
