"""Search evaluation files: queries and their relevance judgements ("qrels").

Two layouts are read:

- **BEIR**: ``queries.jsonl`` (one ``{"_id", "text"}`` per line) and ``qrels/test.tsv``
  (tab-separated, a header ``query-id  corpus-id  score``); the corpus (``corpus.jsonl``:
  ``_id``, ``title``, ``text``) is indexed with ``embedspace index SPACE corpus.jsonl
  --id-field _id``;
- **CSV**: ``queries.csv`` with columns ``id`` (or ``query_id``) and ``text`` (or
  ``query``), and ``qrels.csv`` with ``query_id``, ``doc_id`` and an optional ``score``
  (graded relevance; 1 when absent). Tab-separated ``.tsv`` files read the same way.

A judgement of 0 or less means "not relevant" and is kept only as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from embedspace.errors import InvalidInput
from embedspace.io.readers import read_rows

T = TypeVar("T")

_QUERY_ID = ("_id", "id", "query_id", "query-id", "qid")
_QUERY_TEXT = ("text", "query", "question")
_QRELS_QUERY = ("query-id", "query_id", "qid", "query")
_QRELS_DOC = ("corpus-id", "corpus_id", "doc_id", "doc-id", "docid", "id")
_QRELS_SCORE = ("score", "relevance", "grade", "label")


def read_queries(path: str | Path) -> dict[str, str]:
    """Query id -> query text, from BEIR ``queries.jsonl`` or a CSV/TSV/JSON/Parquet file."""
    file = _existing(path, "queries")
    queries = {
        str(_pick(row, _QUERY_ID, file, n)): str(_pick(row, _QUERY_TEXT, file, n))
        for n, row in read_rows(file)
    }
    return _non_empty(queries, file)


def read_qrels(path: str | Path) -> dict[str, dict[str, float]]:
    """Query id -> {document id: relevance}, from BEIR ``qrels/*.tsv`` or a CSV file."""
    file = _existing(path, "qrels")
    qrels: dict[str, dict[str, float]] = {}
    for number, row in read_rows(file):
        query = str(_pick(row, _QRELS_QUERY, file, number))
        document = str(_pick(row, _QRELS_DOC, file, number))
        score_field = next((f for f in _QRELS_SCORE if f in row), None)
        raw = row[score_field] if score_field else 1
        try:
            score = float(raw)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"{file}, row {number}: relevance {raw!r} is not a number."
            ) from None
        qrels.setdefault(query, {})[document] = score
    return _non_empty(qrels, file)


def _existing(path: str | Path, what: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"No {what} file at {file}. Check the path.")
    return file


def _pick(row: Mapping[str, object], names: tuple[str, ...], file: Path, number: int) -> object:
    for name in names:
        if name in row and row[name] not in (None, ""):
            return row[name]
    raise InvalidInput(
        f"{file}, row {number}: no {' / '.join(names)} field (it has: "
        f"{', '.join(map(str, row)) or 'nothing'})."
    )


def _non_empty(found: dict[str, T], file: Path) -> dict[str, T]:
    if not found:
        raise InvalidInput(f"{file} holds no rows.")
    return found
