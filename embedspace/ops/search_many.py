"""Many text queries against one space: embedded together, then each searched.

A single query is embedded alone, one onnxruntime call of a few tokens on one thread: on
2 cores minilm-l6 spends ~2 ms there, most of a text search's time (bench/RESULTS.md §27).
Embedded a thousand at a time, the same queries cost what documents do when indexed (batches
ordered by length, calls side by side on every core). Dense queries are then searched
together (``Space.search_embedded``: one scan of the filter, one index call, an exact
search one matrix product); keyword and hybrid ones one by one with their vectors, exactly
as ``Space.search`` searches a text (filters, passages, the recipe check).
The answers are those of one-at-a-time searches, up to arithmetic: a query embedded in a
padded batch may come out slightly different (by ~0.001 in cosine with minilm-l6's int8
recipes; the static and hashing encoders give the same vector), and a batch's scores are
summed in another order (~1e-7), so near-ties can swap.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedspace.errors import InvalidInput
from embedspace.progress import ProgressCallback, report
from embedspace.store import Match, Space
from embedspace.store.filters import where_sql
from embedspace.store.fusion import check_mode
from embedspace.store.validate import check_k, check_text

#: Queries embedded per call (and held as vectors at once): 1,024 x 384 float32 is 1.5 MB.
STEP = 1024


@dataclass(frozen=True)
class QueryAnswer:
    """One query's results: its ``line`` (1-based, in its file or list), the ``query``
    text and its ``matches``, best first."""

    line: int
    query: str
    matches: list[Match]


def read_queries(path: str | Path) -> list[tuple[int, str]]:
    """``(line number, text)`` of each non-blank line of a UTF-8 text file (``"-"``: standard
    input), surrounding spaces removed. A file without a query is an error."""
    from embedspace.io.readers import decode_text  # here: a single search never loads it

    source = None if str(path) == "-" else Path(path)
    where = "standard input" if source is None else str(source)
    try:
        data = sys.stdin.buffer.read() if source is None else source.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(
            f"No queries file {where}: give a text file, one query per line."
        ) from None
    except OSError as error:
        raise InvalidInput(
            f"Cannot read the queries file {where}: {error.strerror}. Give a text file, one "
            "query per line (or - for standard input)."
        ) from None
    text = decode_text(data, source, "Give a text file, one query per line.")
    lines = text.replace("\r\n", "\n").split("\n")  # numbered as editors number them
    queries = [(n, line.strip()) for n, line in enumerate(lines, start=1)]
    queries = [(n, q) for n, q in queries if q]
    if not queries:
        raise InvalidInput(f"{where} holds no query: write one query per line.")
    return queries


def iter_answers(
    space: Space,
    queries: Sequence[str] | Sequence[tuple[int, str]],
    k: int = 10,
    *,
    where: Mapping[str, Any] | None = None,
    exact: bool = False,
    mode: str = "dense",
    alpha: float | None = None,
    passages: bool = False,
    on_progress: ProgressCallback | None = None,
    step: int = STEP,
) -> Iterator[QueryAnswer]:
    """Each query's ``QueryAnswer`` in order, ``step`` queries embedded at a time. ``queries``:
    texts (lines numbered from 1) or ``(line, text)`` pairs as ``read_queries`` gives.
    Every query is checked before any is embedded; a bad one is reported with its line."""
    numbered = _numbered(queries)
    check_k(k)  # before any work, as a search checks them
    check_mode(mode, numbered[0][1], alpha)
    if where:
        where_sql(where)  # a malformed filter is refused here, not after a first batch
    stage = f"Searching {len(numbered):,} queries"
    report(on_progress, stage, 0, len(numbered))
    for start in range(0, len(numbered), step):
        chunk = numbered[start : start + step]
        texts = [q for _, q in chunk]
        vectors: Any = [None] * len(chunk)  # keyword: by words only, no vector to make
        if mode != "keyword":
            space.check_queries()  # before the chunk's embedding: another table's vectors
            vectors = space.encoder.encode_query(texts)
        if mode == "dense":  # one scan of the filter, one index call for the whole chunk
            found = space.search_embedded(
                texts, vectors, k, where=where, exact=exact, passages=passages
            )
        else:
            found = [
                space.search(
                    text,
                    k,
                    where=where,
                    exact=exact,
                    mode=mode,
                    alpha=alpha,
                    embedded=vector,
                    passages=passages,
                )
                for text, vector in zip(texts, vectors, strict=True)
            ]
        for (line, text), matches in zip(chunk, found, strict=True):
            yield QueryAnswer(line, text, matches)
        report(on_progress, stage, start + len(chunk), len(numbered))


def search_many(
    space: Space,
    queries: Sequence[str],
    k: int = 10,
    *,
    where: Mapping[str, Any] | None = None,
    exact: bool = False,
    mode: str = "dense",
    alpha: float | None = None,
    passages: bool = False,
    on_progress: ProgressCallback | None = None,
) -> list[list[Match]]:
    """``[space.search(q, k, ...) for q in queries]``, with the queries embedded together
    (several times faster per query for a small model on a CPU). Options as
    ``Space.search``'s."""
    answers = iter_answers(
        space,
        queries,
        k,
        where=where,
        exact=exact,
        mode=mode,
        alpha=alpha,
        passages=passages,
        on_progress=on_progress,
    )
    return [answer.matches for answer in answers]


def _numbered(queries: Sequence[str] | Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    """The queries as ``(line, text)`` pairs, each checked as a search checks its text."""
    if isinstance(queries, str):
        raise InvalidInput("Give a list of query texts, not one text (use Space.search).")
    numbered = [q if isinstance(q, tuple) else (n, q) for n, q in enumerate(queries, start=1)]
    if not numbered:
        raise InvalidInput("No queries: give at least one query text.")
    for line, text in numbered:
        check_text(text, f"Query {line}")  # as a search checks its text
    return numbered
