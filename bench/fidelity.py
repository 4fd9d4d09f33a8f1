"""Fidelity of every minilm-l6 recipe on this CPU, and which one this CPU chose.

Each recipe (``int8-rows``, ``int8-rows-u8``, ``int8-s8``, ``int8-u8``, ``fp32``) embeds the same real sentences (Lee news
corpus + English Wikipedia from gensim's test data); the table gives the cosine to the
fp32 graph (which matches sentence-transformers to float error, see
tests/test_encoders_real.py), mean / min / 1st percentile, and the share of each text's 10
nearest neighbours (among the sentences) that the fp32 vectors also have.

``--emulate CPU`` also runs the int8 recipes under ``qemu-x86_64 -cpu CPU`` (Debian's
``qemu-user``) on the first ``--emulated`` sentences, to show what a CPU class this machine
is not would compute: e.g. ``EPYC-Rome`` is AVX2 without AVX-512 or VNNI. Emulation is
~100x slower, so that row uses fewer sentences, next to this machine's figures for the same
texts; the last column is the largest difference of a vector component between the two
machines (float rounding in the fp32 parts can move an activation across an int8 step).

    .venv/bin/python -m bench.fidelity [--sentences 5000] [--emulate EPYC-Rome --emulated 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.data import machine, sentences


def _texts(count: int) -> list[str]:
    corpus = sentences()
    rng = np.random.default_rng(0)
    return [corpus[i] for i in rng.choice(len(corpus), count, replace=False)]


def _embed(recipes: list[str], texts: list[str]) -> dict[str, np.ndarray]:
    from embedspace.encoders.minilm import _encoder

    return {name: _encoder(f"minilm-l6-{name}", name, name).encode(texts) for name in recipes}


def _knn_kept(vectors: np.ndarray, reference: np.ndarray, k: int = 10) -> float:
    def neighbours(matrix: np.ndarray) -> np.ndarray:
        scores = matrix @ matrix.T
        np.fill_diagonal(scores, -np.inf)
        return np.argpartition(-scores, k, axis=1)[:, :k]

    ours, theirs = neighbours(vectors), neighbours(reference)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ours, theirs, strict=True)]))


def _row(label: str, cosines: np.ndarray, knn: str, same: str) -> str:
    return (
        f"| {label} | {len(cosines)} | {cosines.mean():.5f} | {cosines.min():.5f} | "
        f"{np.quantile(cosines, 0.01):.5f} | {knn} | {same} |"
    )


INT8 = ("int8-rows", "int8-rows-u8", "int8-s8", "int8-u8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sentences", type=int, default=5000)
    parser.add_argument("--emulate", metavar="CPU", help="a qemu CPU model, e.g. EPYC-Rome")
    parser.add_argument("--emulated", type=int, default=200)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # inside qemu: embed and save, nothing else
        vectors = _embed([*INT8, "fp32"], _texts(args.sentences)[: args.emulated])
        np.savez(args.child, **vectors)
        return

    from embedspace.encoders.cpu import cpu_class
    from embedspace.encoders.minilm import chosen_recipe

    texts = _texts(args.sentences)
    vectors = _embed(["fp32", *INT8], texts)
    print(f"# minilm-l6 fidelity by recipe — {machine()}, class {cpu_class()}")
    print(f"# chosen here: {chosen_recipe().explain()}")
    print()
    print(
        "| recipe (CPU) | texts | cosine mean | min | 1st pct | kNN@10 kept | max diff to native |"
    )
    print("|---|---|---|---|---|---|---|")
    reference = vectors["fp32"]
    for name in INT8:
        cosines = (vectors[name] * reference).sum(axis=1)
        knn = f"{_knn_kept(vectors[name], reference):.3f}"
        print(_row(f"{name} (this CPU, {cpu_class()})", cosines, knn, "—"))
    if args.emulate:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "emulated.npz"
            command = ["qemu-x86_64", "-cpu", args.emulate, sys.executable, "-m", "bench.fidelity"]
            command += ["--sentences", str(args.sentences), "--emulated", str(args.emulated)]
            subprocess.run(
                [*command, "--child", str(out)],
                check=True,
                stderr=subprocess.DEVNULL,
                env=os.environ.copy(),
            )
            emulated = dict(np.load(out))
        # The per-tensor int8 recipes' vectors depend on their batch (one activation scale
        # per batch): compare with this machine's vectors of the same texts, same batches.
        native = _embed(list(INT8), texts[: args.emulated])
        for name in INT8:
            cosines = (emulated[name] * emulated["fp32"]).sum(axis=1)
            same = np.abs(emulated[name] - native[name]).max()
            label = f"{name} (qemu {args.emulate})"
            native_cosines = (native[name] * vectors["fp32"][: args.emulated]).sum(axis=1)
            print(_row(f"{name} (this CPU, same texts)", native_cosines, "—", "—"))
            print(_row(label, cosines, "—", f"{same:.3f}"))
    print()
    print(json.dumps(chosen_recipe().to_json()))


if __name__ == "__main__":
    main()
