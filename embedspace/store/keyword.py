"""Keyword search in a space: SQLite FTS5 with bm25 over the items' content.

The index (``items_fts``, schema migration 3) is kept by triggers in the same transactions
as the items. A user's query never reaches FTS5's query language: it is cut into words
(letters and digits), each quoted as a plain term and joined with OR, so quotes, ``*``,
``NEAR``, ``AND`` or unbalanced parentheses are just text, and bm25 ranks items by how many
rare query words they hold. A query with no words (punctuation only) matches nothing.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from typing import Any

import numpy as np

from embedspace.errors import ReadOnlySpace
from embedspace.store.database import read_meta
from embedspace.store.filters import where_sql

#: Distinct words a keyword query keeps (a 100 KB query becomes its first 64 words).
MAX_TERMS = 64
_WORD = re.compile(r"\w+", re.UNICODE)


def match_expression(text: str, *, trigram: bool = False) -> str | None:
    """An FTS5 MATCH expression for the words of ``text`` (``None``: it has none). For a
    trigram index, words shorter than 3 characters are left out (they match nothing)."""
    terms: list[str] = []
    for word in _WORD.findall(text.lower()):
        if trigram and len(word) < 3:
            continue
        if word not in terms:
            terms.append(word)
        if len(terms) == MAX_TERMS:
            break
    if not terms:
        return None
    return " OR ".join(f'"{term}"' for term in terms)  # \w+ holds no quote to escape


def keyword_search(
    connection: sqlite3.Connection,
    text: str,
    k: int,
    where: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rowids and bm25 scores (higher is better) of the ``k`` items that best match the
    words of ``text``, among those whose metadata matches ``where``."""
    _check_index(connection)
    trigram = read_meta(connection).get("keyword_index") == "trigram"
    expression = match_expression(text, trigram=trigram)
    if expression is None or k < 1:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    clause, params = where_sql(where) if where else ("1", [])
    # FTS5's bm25() is lower-is-better; negated so that scores rise with relevance
    rows = connection.execute(
        "SELECT items.rowid, -bm25(items_fts) FROM items_fts "
        "JOIN items ON items.rowid = items_fts.rowid "
        f"WHERE items_fts MATCH ? AND ({clause}) ORDER BY bm25(items_fts) LIMIT ?",
        [expression, *params, k],
    ).fetchall()
    rowids = np.array([r[0] for r in rows], dtype=np.int64)
    scores = np.array([r[1] for r in rows], dtype=np.float32)
    return rowids, scores


def _check_index(connection: sqlite3.Connection) -> None:
    found = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'items_fts'"
    ).fetchone()
    if found is None:
        raise ReadOnlySpace(
            "This space was made before keyword search and is open read-only, so its keyword "
            "index cannot be built here. Open it once where it can be written (any "
            "embedspace command on it, or Space.open) and the index is built."
        )
