"""Documents stored as passages come back from a search once each, by their best passage.

``index`` stores a long document as passages (items ``DOC#1``, ``DOC#2``… whose metadata
``_document`` names the document, ``io/passages.py``). A search ranks passages; what a
reader wants is documents. ``best_per_document`` asks for more passages than ``k`` (four
times, then more while needed), keeps each document's best-scoring passage in rank order,
and returns it as the document's match: the document's id, that passage's score, and the
passage as the snippet (its number in the metadata's ``_passage``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from embedspace.errors import InvalidInput
from embedspace.io.passages import DOCUMENT_KEY
from embedspace.store.items import Match

#: Passages asked for per wanted document on the first try.
_OVERFETCH = 4


def has_passages(connection: sqlite3.Connection) -> bool:
    """Whether any item is a passage of a document. ``> ''`` (not ``IS NOT NULL``, which
    SQLite answers by reading every row) lets the ``items_document`` index answer."""
    row = connection.execute(
        "SELECT 1 FROM items WHERE json_extract(metadata, '$._document') > '' LIMIT 1"
    ).fetchone()
    return row is not None


def best_per_document(fetch: Callable[[int], list[Match]], k: int) -> list[Match]:
    """The ``k`` best documents, from ``fetch(n)`` (the ``n`` best passages and items)."""
    wanted = k * _OVERFETCH
    while True:
        found = fetch(wanted)
        documents: dict[str, Match] = {}
        for match in found:
            document = str(match.metadata.get(DOCUMENT_KEY, match.id))
            if document not in documents:
                documents[document] = Match(document, match.score, match.content, match.metadata)
        if len(documents) >= k or len(found) < wanted:
            return list(documents.values())[:k]
        wanted *= _OVERFETCH


def no_item(connection: sqlite3.Connection, space: str, item_id: str) -> InvalidInput:
    """The error for an id no item has: a document stored as passages is named as such,
    with the ids of its passages (searches return the document's id)."""
    parts = [
        row[0]
        for row in connection.execute(
            "SELECT id FROM items WHERE json_extract(metadata, '$._document') = ? ORDER BY rowid",
            (item_id,),
        )
    ]
    if parts:
        return InvalidInput(
            f"'{item_id}' in space '{space}' is a document stored as {len(parts)} passages "
            f"({parts[0]} ... {parts[-1]}): give one of them, e.g. '{parts[0]}'."
        )
    return InvalidInput(
        f"No item '{item_id}' in space '{space}'. List ids with 'embedspace items'."
    )


def documents_among(connection: sqlite3.Connection, ids: list[str]) -> set[str]:
    """Which of ``ids`` are documents stored as passages (through the ``items_document``
    index: the path is written out, as the index's expression is)."""
    rows = connection.execute(
        "SELECT DISTINCT json_extract(metadata, '$._document') FROM items "
        "WHERE json_extract(metadata, '$._document') IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),),
    )
    return {row[0] for row in rows}
