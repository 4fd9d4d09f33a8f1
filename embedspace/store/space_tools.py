"""What the Space's image and multitool entry points need beyond the core write and search
paths: gathering a folder of images into Records, and reading a consistent snapshot of the
items (all, or those a where filter keeps) for the ops."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from embedspace.io.images import read_image_records
from embedspace.io.readers import Rejection
from embedspace.io.records import Record
from embedspace.store import database as db
from embedspace.store.filters import warn_fields_in_no_item, where_sql
from embedspace.store.items import Snapshot


def image_records(
    path: str | Path | Sequence[str | Path],
) -> tuple[list[Record], list[Rejection]]:
    """The images in a folder (recursively), a file, or a list of files, as Records with
    ids relative to the folder named; corrupt or non-image files and repeated ids come back
    as Rejections."""
    paths = [path] if isinstance(path, str | Path) else list(path)
    records: dict[str, Record] = {}
    rejected: list[Rejection] = []
    for each in paths:
        for item in read_image_records(each):
            if isinstance(item, Rejection):
                rejected.append(item)
            elif item.id in records:
                rejected.append(Rejection(item.content, 0, f"repeats id '{item.id}'"))
            else:
                records[item.id] = item
    return list(records.values()), rejected


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
