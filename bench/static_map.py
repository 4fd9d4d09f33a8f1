"""minilm-static's learned map (issue 17, point 2): fit it on Wikipedia sentences against
minilm-l6-fp32's vectors of them, write it where embedspace ships it, and measure what it
does on the held-out evaluation sets of bench.search_quality (Lee, chatterbot), next to
minilm-l6 and to the table without a map (PCA + SIF, as minilm-static was before), in one
run. Needs the dev install (gensim's test data holds the sentences).

    .venv/bin/python -m bench.static_map [--output FILE | --ship]

``--ship`` replaces the map embedspace ships (``embedspace/data/minilm_static_map.npy``);
without it the map goes to a scratch file, so measuring never changes minilm-static.

The fitting sentences are bench.data.sentences() without every sentence found in the Lee
corpus files (lee.cor is an evaluation set; lee_background.cor is left out with it).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.data import machine, sentences

OLD_SIF = 3e-6  # the table before the map (§20)


def fitting_sentences() -> list[str]:
    """The Wikipedia sentences of bench.data.sentences(), none of them from the Lee files."""
    import gensim

    folder = Path(gensim.__file__).parent / "test" / "test_data"
    lee = "\n".join(
        line.strip()
        for name in ("lee.cor", "lee_background.cor")
        for line in (folder / name).read_text(encoding="latin-1").splitlines()
    )
    return [s for s in sentences() if s not in lee]


def _without_map(vectors: np.ndarray, dims: int) -> np.ndarray:
    """The table as minilm-static made it before the map: PCA to ``dims``, SIF 3e-6."""
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    ranks = 1.0 / np.arange(2, len(vectors) + 2)
    weights = OLD_SIF / (OLD_SIF + ranks / ranks.sum())
    return (centred @ components[:dims].T * weights[:, None]).astype(np.float32)


def _ndcg_sets(embed) -> list[float]:  # type: ignore[no-untyped-def]
    """nDCG@10 of dense search with ``embed`` (texts -> normalised vectors) on Lee and
    chatterbot, as bench.search_quality scores them (a query never finds itself)."""
    from bench.search_quality import chatterbot_set, lee_set
    from embedspace.ops.search_eval import ndcg

    scores = []
    for corpus, queries, qrels in (lee_set(), chatterbot_set()):
        ids = list(corpus)
        documents = embed([corpus[i] for i in ids])
        judged = [q for q in queries if q in qrels]
        similarity = embed([queries[q] for q in judged]) @ documents.T
        total = 0.0
        for row, qid in enumerate(judged):
            ranked = [ids[j] for j in np.argsort(-similarity[row]) if ids[j] != qid][:100]
            total += ndcg(ranked, qrels[qid], 10)
        scores.append(total / len(judged))
    return scores


def main() -> None:
    from embedspace.encoders import static
    from embedspace.encoders.minilm import minilm_l6_fp32, plain_tokenizer
    from embedspace.encoders.registry import get

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output", type=Path, default=None, help="where to write the map (default: a scratch file)"
    )
    parser.add_argument(
        "--ship", action="store_true", help=f"replace the shipped map, {static.MAP_FILE}"
    )
    args = parser.parse_args()
    if args.ship:
        args.output = static.MAP_FILE
    elif args.output is None:
        args.output = Path(tempfile.mkdtemp(prefix="static-map-")) / "minilm_static_map.npy"

    texts = fitting_sentences()
    teacher = minilm_l6_fp32()
    started = time.perf_counter()
    targets = teacher.encode(texts)
    token_vectors = static.token_vectors(teacher)
    teacher_s = time.perf_counter() - started
    tokenizer = plain_tokenizer()

    def ids(batch: list[str]) -> list[list[int]]:
        return [e.ids for e in tokenizer.encode_batch(batch)]

    weighted = static.weighted_tokens(token_vectors)
    pooled = static.mean_rows(weighted, ids(texts))
    started = time.perf_counter()
    mapping = static.fit_map(pooled, targets)
    fit_s = time.perf_counter() - started
    half = len(texts) // 2
    halves = [
        static.fit_map(pooled[part], targets[part])
        for part in (slice(None, half), slice(half, None))
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_name(args.output.name + ".partial")
    with partial.open("wb") as handle:  # written whole, then renamed over the old one
        np.save(handle, mapping.astype(np.float16))
    os.replace(partial, args.output)
    shipped = np.load(args.output).astype(np.float32)

    # Fitted to the domain, as `embedspace train static-encoder` does with a user's texts:
    # Lee's background news (same source, not the evaluated documents); chatterbot's
    # answers (the documents searched; no question and no label is used).
    from bench.data import _SPLIT, _gensim_data
    from bench.search_quality import chatterbot_set

    background = [
        s.strip()
        for s in _SPLIT.split((_gensim_data() / "lee_background.cor").read_text(encoding="latin-1"))
        if len(s.split()) >= 4
    ]
    answers = list(chatterbot_set()[0].values())
    on_background = static.fit_map(
        static.mean_rows(weighted, ids(background)), teacher.encode(background)
    )
    with_answers = static.fit_map(
        np.concatenate([pooled, static.mean_rows(weighted, ids(answers))]),
        np.concatenate([targets, teacher.encode(answers)]),
    )

    teacher_l6 = get("minilm-l6")
    rows = [
        ("minilm-l6 (the transformer, this CPU's recipe)", teacher_l6.encode),
        ("minilm-l6-fp32 (the teacher)", teacher.encode),
        (
            "table without a map (PCA 256, SIF 3e-6; minilm-static before)",
            lambda b: static.mean_rows(_without_map(token_vectors, static.DIMS), ids(b)),
        ),
        (
            "table with the map (as shipped, float16)",
            lambda b: static.mean_rows(weighted @ shipped, ids(b)),
        ),
        (
            "map fitted on the first half only",
            lambda b: static.mean_rows(weighted @ halves[0], ids(b)),
        ),
        (
            "map fitted on the second half only",
            lambda b: static.mean_rows(weighted @ halves[1], ids(b)),
        ),
        (
            f"map fitted on Lee's background news only ({len(background):,} sentences)",
            lambda b: static.mean_rows(weighted @ on_background, ids(b)),
        ),
        (
            f"map fitted on the Wikipedia sentences + chatterbot's {len(answers):,} answers",
            lambda b: static.mean_rows(weighted @ with_answers, ids(b)),
        ),
    ]
    print(f"# minilm-static's map — {machine()}")
    print(
        f"fitted on {len(texts):,} sentences (teacher vectors and token vectors {teacher_s:.0f} s, "
        f"fit {fit_s:.1f} s); written to {args.output} ({args.output.stat().st_size:,} bytes)\n"
    )
    print("| encoder | Lee nDCG@10 | share | chatterbot nDCG@10 | share |")
    print("|---|---|---|---|---|")
    reference: list[float] = []
    for label, embed in rows:
        lee, chat = _ndcg_sets(embed)
        reference = reference or [lee, chat]
        print(
            f"| {label} | {lee:.4f} | {lee / reference[0]:.0%} | {chat:.4f} | {chat / reference[1]:.0%} |"
        )


if __name__ == "__main__":
    main()
