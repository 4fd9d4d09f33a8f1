"""Long documents as passages that fit an encoder's window: token-counted, sentence-aware,
with overlap.

A transformer reads a fixed number of tokens (minilm-l6: 256) and cuts the rest, so a long
document would be embedded by its beginning only. ``split_passages`` cuts it at sentence
ends into passages of at most ``max_tokens`` tokens (counted by the encoder's own
tokenizer), each starting with the last sentences of the one before (up to ``overlap``
tokens) so that a statement spanning a cut is whole in one passage. A sentence longer than
a passage is cut between words. ``passage_records`` turns a document Record into its
passages: ids ``DOC#1``, ``DOC#2``, …, metadata ``_document`` (the document's id) and
``_passage`` (the number) added to the document's own.

Written here, not taken from a text splitter library (LangChain's, say), to count with the
encoder's tokenizer and to keep the dependency list short.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from embedspace.io.records import Record

#: Metadata fields a passage gets: the id of its document, and its number (from 1).
DOCUMENT_KEY = "_document"
PASSAGE_KEY = "_passage"

# a sentence ends at . ! ? (with closing quotes or brackets) followed by space, or at a
# blank line; lines of a list or a heading end at a newline
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|\n\s*\n|\n(?=\s*(?:[-*•#]|\d+[.)])\s)")

TokenCounter = Callable[[Sequence[str]], list[int]]


def sentences(text: str) -> list[str]:
    """The sentences (and paragraphs, list lines) of ``text``, whitespace trimmed."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def split_passages(text: str, count: TokenCounter, max_tokens: int, overlap: int = 0) -> list[str]:
    """``text`` as passages of at most ``max_tokens`` tokens (as ``count`` counts them),
    cut at sentence ends, each beginning with up to ``overlap`` tokens of the one before."""
    if max_tokens < 8:
        raise ValueError(f"max_tokens must be at least 8, not {max_tokens}")
    if not 0 <= overlap < max_tokens // 2:
        raise ValueError(f"overlap must be between 0 and half of max_tokens, not {overlap}")
    pieces = _fitting(sentences(text), count, max_tokens)
    if not pieces:
        return []
    passages: list[str] = []
    current: list[tuple[str, int]] = []
    size = 0
    for piece, tokens in pieces:
        if current and size + tokens > max_tokens:
            passages.append(" ".join(p for p, _ in current))
            current, size = _tail(current, overlap, max_tokens - tokens)
        current.append((piece, tokens))
        size += tokens
    passages.append(" ".join(p for p, _ in current))
    return passages


def _fitting(parts: list[str], count: TokenCounter, max_tokens: int) -> list[tuple[str, int]]:
    """Each part with its token count; parts longer than ``max_tokens`` cut between words
    (in proportion to their tokens, re-counted until each piece fits)."""
    fitted: list[tuple[str, int]] = []
    for part, tokens in zip(parts, count(parts), strict=True):
        if tokens <= max_tokens:
            fitted.append((part, tokens))
            continue
        words = part.split()
        step = max(1, len(words) * max_tokens // (tokens + 1))
        start = 0
        while start < len(words):
            take = step
            while True:
                piece = " ".join(words[start : start + take])
                (size,) = count([piece])
                if size <= max_tokens or take == 1:
                    break
                take = max(1, take * max_tokens // (size + 1))
            fitted.append((piece, size))
            start += take
    return fitted


def _tail(
    passage: list[tuple[str, int]], overlap: int, room: int
) -> tuple[list[tuple[str, int]], int]:
    """The last pieces of ``passage`` that fit in ``overlap`` tokens (and in ``room``)."""
    kept: list[tuple[str, int]] = []
    size = 0
    for piece, tokens in reversed(passage):
        if size + tokens > min(overlap, room):
            break
        kept.insert(0, (piece, tokens))
        size += tokens
    return kept, size


def passage_records(record: Record, passages: Sequence[str]) -> list[Record]:
    """The passages of the document ``record`` as Records of their own."""
    return [
        Record(
            f"{record.id}#{number}",
            text,
            {**record.metadata, DOCUMENT_KEY: record.id, PASSAGE_KEY: number},
        )
        for number, text in enumerate(passages, 1)
    ]
