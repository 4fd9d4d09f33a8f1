"""Writing a PostgreSQL space's rows (``store.postgres``), inside the caller's transaction:
new and changed items by binary COPY and one upsert, metadata-only changes by UPDATE, and
the passages a re-indexed document no longer has."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from embedspace.io.records import Record
from embedspace.store.items import id_list
from embedspace.store.pg_connection import DOCUMENT, as_is
from embedspace.store.validate import metadata_json


def commit(
    connection: Any,
    table: str,
    prepare: Callable[[np.ndarray], np.ndarray],
    records: list[Record],
    hashes: list[str],
    existing: dict[str, tuple[str, str]],
    vectors: dict[str, np.ndarray],
    embed: Callable[[Record], np.ndarray],
) -> tuple[int, int, int]:
    """Write ``records`` (their content ``hashes``; ``existing``: id -> (hash, metadata
    JSON) of those stored; ``vectors`` by hash for the new contents, ``embed`` for a record
    another writer changed meanwhile); returns (added, updated, unchanged)."""
    added = updated = unchanged = 0
    rows, metadata_only = [], []
    for record, digest in zip(records, hashes, strict=True):
        meta_json = metadata_json(record.metadata, record.id)
        old = existing.get(record.id)
        if old is not None and old[0] == digest and record.vector is None:
            if _canonical(old[1]) == _canonical(meta_json):  # true and 1 differ
                unchanged += 1
            else:
                metadata_only.append((meta_json, record.id))
                updated += 1
            continue
        vector = record.vector if record.vector is not None else vectors.get(digest)
        if vector is None:  # changed or deleted by another writer since it was looked up
            vector = vectors[digest] = embed(record)
        stored = prepare(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        rows.append((record.id, record.content, digest, meta_json, stored))
        if old is None:
            added += 1
        else:
            updated += 1
    with connection.cursor() as cursor:
        if metadata_only:
            cursor.executemany(
                f"UPDATE {table} SET metadata = %s::jsonb WHERE id = %s", metadata_only
            )
        if rows:
            _copy_in(cursor, table, rows)
    return added, updated, unchanged


def _copy_in(cursor: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert or replace ``rows`` (id, content, hash, metadata JSON, vector): COPY in
    binary into a temporary table, then one INSERT … ON CONFLICT from it (COPY is
    several times faster than row-by-row inserts, and cannot upsert by itself)."""
    from psycopg.types.json import Jsonb

    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS embedspace_stage (id text, content text, "
        "content_hash text, metadata jsonb, embedding vector) ON COMMIT DELETE ROWS"
    )
    columns = "id, content, content_hash, metadata, embedding"
    with cursor.copy(f"COPY embedspace_stage ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["text", "text", "text", "jsonb", "vector"])
        for item_id, content, digest, meta_json, vector in rows:
            # the JSON text as it is (psycopg would otherwise write it as a JSON string)
            metadata = Jsonb(meta_json, dumps=as_is)
            copy.write_row((item_id, content, digest, metadata, vector))
    cursor.execute(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM embedspace_stage "
        "ON CONFLICT (id) DO UPDATE SET content = EXCLUDED.content, content_hash = "
        "EXCLUDED.content_hash, metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding"
    )
    cursor.execute("TRUNCATE embedspace_stage")


def remove_parts(connection: Any, table: str, documents: Sequence[str], keep: set[str]) -> int:
    """Delete the items of ``documents`` (by id or ``_document``) not in ``keep``."""
    if not documents:
        return 0
    wanted = list(dict.fromkeys(id_list(documents)))
    rows = connection.execute(
        f"DELETE FROM {table} WHERE (id = ANY(%s) OR {DOCUMENT} = ANY(%s)) "
        "AND NOT id = ANY(%s) RETURNING 1",
        (wanted, wanted, sorted(keep)),
    ).fetchall()
    return len(rows)


def _canonical(text: str) -> str:
    return json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False)
