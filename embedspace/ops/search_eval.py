"""How good is search? nDCG, recall and MRR of a space's search modes on judged queries.

``evaluate_search`` runs every query in each mode and scores the rankings against the
relevance judgements (``io/relevance.py`` reads them). The metrics are the standard ones
(as BEIR and trec_eval define them), written out here because each is a line or two and
``pytrec_eval`` needs a compiler to install:

- **nDCG@k**: the discounted gain ``sum(rel / log2(rank + 1))`` of the top k, divided by
  the best gain the judgements allow (graded relevance counts as given);
- **Recall@k**: the share of a query's relevant documents found in the top k;
- **MRR@k**: 1 / the rank of the first relevant document in the top k (0 if none).

Queries without any relevant document are left out (and counted), as BEIR does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from embedspace.errors import InvalidInput
from embedspace.io.relevance import read_qrels, read_queries
from embedspace.progress import ProgressCallback, report
from embedspace.store import Space
from embedspace.store.fusion import MODES, check_mode

#: The deepest cut measured (Recall@100): each query asks for this many results.
DEPTH = 100


@dataclass(frozen=True)
class ModeScores:
    """The mean metrics of one search mode over the judged queries."""

    mode: str
    ndcg: float
    recall: float
    recall_100: float
    mrr: float


@dataclass(frozen=True)
class SearchEvaluation:
    """The scores of each mode, with what was measured."""

    space: str
    k: int
    queries: int  # judged queries that were run
    skipped: int  # queries with no relevant document, or no judgements
    rows: list[ModeScores]


def ndcg(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """nDCG@k of ``ranked`` ids given graded ``relevant`` judgements."""
    gain = sum(
        relevant.get(doc, 0.0) / math.log2(rank + 2)
        for rank, doc in enumerate(ranked[:k])
        if relevant.get(doc, 0.0) > 0
    )
    ideal_grades = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal_grades))
    return gain / ideal if ideal > 0 else 0.0


def recall(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Share of the relevant documents found in the top ``k``."""
    wanted = {doc for doc, grade in relevant.items() if grade > 0}
    return len(wanted.intersection(ranked[:k])) / len(wanted) if wanted else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """1 / rank of the first relevant document in the top ``k`` (0 if none)."""
    for rank, doc in enumerate(ranked[:k], 1):
        if relevant.get(doc, 0.0) > 0:
            return 1.0 / rank
    return 0.0


def evaluate_search(
    space: Space,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, float]],
    *,
    modes: Sequence[str] = MODES,
    k: int = 10,
    on_progress: ProgressCallback | None = None,
) -> SearchEvaluation:
    """Mean nDCG@k, Recall@k, Recall@100 and MRR@k of each of ``modes`` on ``queries``."""
    judged = {
        qid: text
        for qid, text in queries.items()
        if any(grade > 0 for grade in qrels.get(qid, {}).values())
    }
    for mode in modes:
        check_mode(mode, "", None)
    rows = []
    for mode in modes:
        totals = [0.0, 0.0, 0.0, 0.0]
        for done, (qid, text) in enumerate(judged.items(), 1):
            ranked = [m.id for m in space.search(text, k=max(k, DEPTH), mode=mode)]
            relevant = qrels[qid]
            totals[0] += ndcg(ranked, relevant, k)
            totals[1] += recall(ranked, relevant, k)
            totals[2] += recall(ranked, relevant, DEPTH)
            totals[3] += reciprocal_rank(ranked, relevant, k)
            report(on_progress, f"Searching ({mode})", done, len(judged))
        count = max(len(judged), 1)
        rows.append(ModeScores(mode, *(total / count for total in totals)))
    return SearchEvaluation(space.name, k, len(judged), len(queries) - len(judged), rows)


def evaluate_search_files(
    space: Space,
    queries: str | Path,
    qrels: str | Path,
    *,
    modes: Sequence[str] = MODES,
    k: int = 10,
    on_progress: ProgressCallback | None = None,
) -> SearchEvaluation:
    """``evaluate_search`` with the queries and judgements read from files (BEIR's
    ``queries.jsonl`` and ``qrels/*.tsv``, or CSV: see ``io/relevance.py``)."""
    judged = read_qrels(qrels)
    asked = read_queries(queries)
    if not judged.keys() & asked.keys():
        raise InvalidInput(
            f"No query of {queries} has judgements in {qrels}: their query ids differ "
            f"(e.g. {next(iter(asked))!r} and {next(iter(judged))!r})."
        )
    return evaluate_search(space, asked, judged, modes=modes, k=k, on_progress=on_progress)
