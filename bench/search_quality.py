"""Search quality (issue 14): dense, keyword and hybrid search on judged queries, with the
keyword side checked against ``rank-bm25`` and ``bm25s`` on the same corpus in the same run.

Evaluation sets, built from data that ships offline with real relevance labels:

- **chatterbot**: chatterbot-corpus (21 categories), deduplicated; the corpus is the
  distinct answers, the queries the distinct questions, a question's relevant documents
  the answers it is paired with;
- **lee**: gensim's Lee corpus (50 news documents) with its 50 x 50 human similarity
  scores; each document is a query against the other 49, documents scored >= 0.5 by
  people are relevant, graded by that score.

Scored with the metric functions of ``embedspace evaluate-search``
(``ops/search_eval.py``); a Lee query's own document is left out of its ranking.

    .venv/bin/python -m bench.search_quality [--encoder minilm-l6] [--alphas 0.3,0.5,0.7] [--txtai]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from bench.data import machine, minilm_reference_dir
from bench.multitool import chatterbot

MODES = ("dense", "keyword", "hybrid")


def chatterbot_set() -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, float]]]:
    """(corpus, queries, qrels) from chatterbot-corpus."""
    answers: dict[str, str] = {}
    questions: dict[str, str] = {}
    qrels: dict[str, dict[str, float]] = {}
    for _category, question, answer in chatterbot():
        doc = answers.setdefault(answer, f"a{len(answers)}")
        key = question.strip().lower()
        qid = questions.setdefault(key, f"q{len(questions)}")
        qrels.setdefault(qid, {})[doc] = 1.0
    corpus = {doc: text for text, doc in answers.items()}
    queries = {qid: key for key, qid in questions.items()}
    return corpus, queries, qrels


def lee_set() -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, float]]]:
    """(corpus, queries, qrels) from gensim's Lee corpus and its human scores."""
    import gensim

    folder = Path(gensim.__file__).parent / "test" / "test_data"
    documents = [
        line.strip()
        for line in (folder / "lee.cor").read_text(encoding="latin-1").splitlines()
        if line.strip()
    ]
    rows = [
        [float(v) for v in line.split()]
        for line in (folder / "similarities0-1.txt").read_text().splitlines()
        if line.strip()
    ]
    corpus = {f"d{i}": text for i, text in enumerate(documents)}
    queries = dict(corpus)
    qrels: dict[str, dict[str, float]] = {}
    for i in range(len(documents)):
        for j in range(len(documents)):
            if i == j:
                continue
            score = rows[min(i, j)][max(i, j)]  # the file holds the upper triangle
            if score >= 0.5:
                qrels.setdefault(f"d{i}", {})[f"d{j}"] = score
    return corpus, queries, qrels


def _bm25_baselines(
    corpus: dict[str, str], queries: dict[str, str], qrels: dict[str, dict[str, float]], k: int
) -> list[tuple[str, float, float, float]]:
    """(name, nDCG@k, seconds to index, ms per query) of rank-bm25 and bm25s, if installed."""
    from embedspace.ops.search_eval import ndcg

    ids, texts = list(corpus), list(corpus.values())
    judged = {q: t for q, t in queries.items() if q in qrels}

    def tokens(text: str) -> list[str]:
        return re.findall(r"\w+", text.lower())

    rows = []
    try:
        from rank_bm25 import BM25Okapi

        started = time.perf_counter()
        model = BM25Okapi([tokens(t) for t in texts])
        built = time.perf_counter() - started
        total, started = 0.0, time.perf_counter()
        for qid, text in judged.items():
            scores = model.get_scores(tokens(text))
            order = sorted(range(len(ids)), key=lambda i: -scores[i])[:k]
            ranked = [ids[i] for i in order if scores[i] > 0 and ids[i] != qid]
            total += ndcg(ranked, qrels[qid], k)
        per_query = 1000 * (time.perf_counter() - started) / len(judged)
        rows.append(("rank-bm25 (BM25Okapi)", total / len(judged), built, per_query))
    except ImportError:
        rows.append(("rank-bm25: not installed", math.nan, math.nan, math.nan))
    try:
        import bm25s

        started = time.perf_counter()
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(texts, stopwords=None, show_progress=False))
        built = time.perf_counter() - started
        total, started = 0.0, time.perf_counter()
        for qid, text in judged.items():
            found, scores = retriever.retrieve(
                bm25s.tokenize([text], stopwords=None, show_progress=False),
                k=min(k + 1, len(ids)),
                show_progress=False,
            )
            ranked = [ids[int(i)] for i, s in zip(found[0], scores[0], strict=True) if s > 0]
            ranked = [d for d in ranked if d != qid][:k]
            total += ndcg(ranked, qrels[qid], k)
        per_query = 1000 * (time.perf_counter() - started) / len(judged)
        rows.append(("bm25s", total / len(judged), built, per_query))
    except ImportError:
        rows.append(("bm25s: not installed", math.nan, math.nan, math.nan))
    return rows


def run_set(
    name: str,
    corpus: dict[str, str],
    queries: dict[str, str],
    qrels: dict[str, dict[str, float]],
    encoder: str,
    alphas: list[float],
    folder: Path,
    k: int = 10,
    with_txtai: bool = False,
) -> list[str]:
    """The markdown rows of one evaluation set."""
    import embedspace as es
    from embedspace.ops.search_eval import ModeScores

    space_path = folder / name
    started = time.perf_counter()
    with es.Space.create(space_path, encoder=encoder) as space:
        space.add(list(corpus.values()), ids=list(corpus))
    indexed = time.perf_counter() - started
    judged = {q: t for q, t in queries.items() if q in qrels}
    lines = [
        f"### {name}: {len(corpus):,} documents, {len(judged):,} judged queries, "
        f"encoder {encoder} (indexed in {indexed:.1f} s)",
        "",
        f"| mode | nDCG@{k} | Recall@{k} | Recall@100 | MRR@{k} | ms per query |",
        "|---|---|---|---|---|---|",
    ]
    results: list[ModeScores] = []
    with es.Space.open(space_path) as space:
        for mode in MODES:
            started = time.perf_counter()
            found = _scores(space, judged, qrels, mode, None, k)
            ms = 1000 * (time.perf_counter() - started) / len(judged)
            results.append(found)
            lines.append(_row(mode, found, ms))
        best: tuple[float, ModeScores] | None = None
        for alpha in alphas:
            found = _scores(space, judged, qrels, "hybrid", alpha, k)
            results.append(found)
            if best is None or found.ndcg > best[1].ndcg:
                best = (alpha, found)
        if best is not None:
            lines.append(_row(f"hybrid, alpha {best[0]} (best of {alphas})", best[1], math.nan))
    lines += ["", "Keyword baselines on the same corpus and queries:", ""]
    lines += ["| system | nDCG@10 | index s | ms per query |", "|---|---|---|---|"]
    keyword = next(r for r in results if r.mode == "keyword")
    lines.append(f"| embedspace keyword (FTS5 bm25) | {keyword.ndcg:.4f} | (in the space) | |")
    for system, score, built, per_query in _bm25_baselines(corpus, judged, qrels, k):
        lines.append(f"| {system} | {score:.4f} | {built:.2f} | {per_query:.2f} |")
    if with_txtai:
        lines += ["", "txtai 9 on the same corpus and queries, same model files (fp32):", ""]
        lines += [f"| txtai mode | nDCG@{k} | index s | ms per query |", "|---|---|---|---|"]
        # txtai's hybrid is a convex 0.5 of normalised scores: compared with ours at 0.5
        ours_by_mode = {r.mode: r.ndcg for r in results}
        ours_by_mode["hybrid"] = ours_by_mode.get("alpha 0.5", math.nan)
        for mode, score, built, per_query in _txtai(corpus, judged, qrels, k):
            ours = ours_by_mode.get(mode.split()[0], math.nan)
            lines.append(
                f"| {mode} | {score:.4f} (embedspace {ours:.4f}) | {built:.1f} | {per_query:.1f} |"
            )
    return lines


def _txtai(
    corpus: dict[str, str], judged: dict[str, str], qrels: dict[str, dict[str, float]], k: int
) -> list[tuple[str, float, float, float]]:
    """(mode, nDCG@k, seconds to index, ms per query) of txtai's dense, keyword (bm25) and
    hybrid search (its default: convex 0.5 of normalised scores), given the all-MiniLM-L6-v2
    folder from the model package: nothing is downloaded."""
    from embedspace.ops.search_eval import DEPTH, ndcg

    try:
        from txtai import Embeddings
    except ImportError:
        return [("txtai: not installed", math.nan, math.nan, math.nan)]
    model = str(minilm_reference_dir())
    configs = {
        "dense": {"path": model},
        "keyword (bm25)": {"keyword": True},
        "hybrid (convex 0.5)": {"path": model, "hybrid": True},
    }
    rows = []
    for mode, config in configs.items():
        embeddings = Embeddings(config)
        started = time.perf_counter()
        embeddings.index([(doc, text, None) for doc, text in corpus.items()])
        built = time.perf_counter() - started
        total, started = 0.0, time.perf_counter()
        for qid, text in judged.items():
            found = embeddings.search(text, DEPTH + 1)
            ranked = [str(doc) for doc, _score in found if str(doc) != qid][:DEPTH]
            total += ndcg(ranked, qrels[qid], k)
        per_query = 1000 * (time.perf_counter() - started) / len(judged)
        rows.append((mode, total / len(judged), built, per_query))
    return rows


def _scores(space, judged, qrels, mode: str, alpha: float | None, k: int):  # type: ignore[no-untyped-def]
    from embedspace.ops.search_eval import DEPTH, ModeScores, ndcg, recall, reciprocal_rank

    totals = [0.0, 0.0, 0.0, 0.0]
    for qid, text in judged.items():
        found = space.search(text, k=DEPTH + 1, mode=mode, alpha=alpha)
        ranked = [m.id for m in found if m.id != qid][:DEPTH]
        totals[0] += ndcg(ranked, qrels[qid], k)
        totals[1] += recall(ranked, qrels[qid], k)
        totals[2] += recall(ranked, qrels[qid], DEPTH)
        totals[3] += reciprocal_rank(ranked, qrels[qid], k)
    return ModeScores(
        mode if alpha is None else f"alpha {alpha}", *(t / len(judged) for t in totals)
    )


def _row(mode: str, found, ms: float) -> str:  # type: ignore[no-untyped-def]
    timing = "" if math.isnan(ms) else f"{ms:.1f}"
    return (
        f"| {mode} | {found.ndcg:.4f} | {found.recall:.4f} | {found.recall_100:.4f} | "
        f"{found.mrr:.4f} | {timing} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--encoder", default="minilm-l6")
    parser.add_argument("--alphas", default="0.3,0.5,0.7")
    parser.add_argument(
        "--txtai", action="store_true", help="also txtai's dense, keyword and hybrid search"
    )
    args = parser.parse_args()
    alphas = [float(a) for a in args.alphas.split(",") if a]
    folder = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    os.environ.setdefault("EMBEDSPACE_HOME", str(folder / "home"))
    try:
        print(f"# Search quality — {machine()}\n")
        for name, build in (("chatterbot", chatterbot_set), ("lee", lee_set)):
            corpus, queries, qrels = build()
            print(
                "\n".join(
                    run_set(
                        name,
                        corpus,
                        queries,
                        qrels,
                        args.encoder,
                        alphas,
                        folder,
                        with_txtai=args.txtai,
                    )
                )
            )
            print(flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
