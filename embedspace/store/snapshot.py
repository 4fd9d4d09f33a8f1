"""A consistent snapshot of a space's items (all, or those a where filter keeps), read in
one query: what the ops that look at a whole space (dedup, cluster, outliers) work on."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from embedspace.store import database as db
from embedspace.store.filters import warn_fields_in_no_item, where_sql
from embedspace.store.items import Snapshot


def read_snapshot(
    connection: sqlite3.Connection, dim: int, name: str, where: Mapping[str, Any] | None
) -> Snapshot:
    """Every item (or those ``where`` keeps) read in one query, in insertion order."""
    if where:
        clause, parameters = where_sql(where)
        warn_fields_in_no_item(connection, where, name)
        query = f"SELECT id, content, metadata, vector FROM items WHERE {clause} ORDER BY rowid"
    else:
        query, parameters = "SELECT id, content, metadata, vector FROM items ORDER BY rowid", []
    rows = connection.execute(query, parameters).fetchall()
    vectors = db.vectors_from_blobs([r[3] for r in rows], dim).copy()
    return Snapshot(
        [r[0] for r in rows], vectors, [r[1] for r in rows], [json.loads(r[2]) for r in rows]
    )
