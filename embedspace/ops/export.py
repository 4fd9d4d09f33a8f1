"""Export a space to a file that ``embedspace index`` reads back: one row per item with
``id``, ``content``, ``metadata`` and ``vector``.

- ``.jsonl``: one JSON object per line; ``metadata`` is an object, ``vector`` a list.
- ``.parquet``: ``metadata`` is a JSON text column (items' metadata need not share keys or
  types), ``vector`` a fixed-size list of float32.

``index SPACE FILE --vector-field vector`` stores the vectors as they are (the readers take
``content`` as the text, ``id`` as the id, and unpack ``metadata``). The ``_source`` field
that ``index`` keeps is left out: the new space records the export file instead.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from embedspace.encoders.landmarks import LandmarkFingerprinter
from embedspace.errors import EmbedspaceError, InvalidInput
from embedspace.io.outputs import check_output_file, write_file
from embedspace.ops.ingest import SOURCE_KEY
from embedspace.store import Snapshot, Space, delete_space

FORMATS = (".parquet", ".jsonl")
COPY_BATCH = 1024  # items per transaction of copy_space


def export_space(space: Space, path: str | Path, *, where: Mapping[str, Any] | None = None) -> int:
    """Write the items of ``space`` (those matching ``where``) to ``path`` (.parquet or
    .jsonl), atomically; returns how many were written."""
    target = Path(path)
    check_output_file(target, FORMATS)
    snapshot = space.snapshot(where)
    metadata = [{k: v for k, v in m.items() if k != SOURCE_KEY} for m in snapshot.metadata]
    if target.suffix.lower() == ".jsonl":
        write_file(target, lambda temp: _jsonl(temp, snapshot, metadata))
    else:
        write_file(target, lambda temp: _parquet(temp, snapshot, metadata, space))
    return len(snapshot)


def _jsonl(temp: Path, snapshot: Snapshot, metadata: list[dict[str, Any]]) -> None:
    with open(temp, "w", encoding="utf-8") as out:
        for position, item_id in enumerate(snapshot.ids):
            row = {
                "id": item_id,
                "content": snapshot.contents[position],
                "metadata": metadata[position],
                "vector": snapshot.vectors[position].tolist(),
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _parquet(temp: Path, snapshot: Snapshot, metadata: list[dict[str, Any]], space: Space) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dim = space.stamp.dim
    table = pa.table(
        {
            "id": pa.array(snapshot.ids, pa.string()),
            "content": pa.array(snapshot.contents, pa.string()),
            "metadata": pa.array(
                [json.dumps(m, ensure_ascii=False, sort_keys=True) for m in metadata], pa.string()
            ),
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(snapshot.vectors.reshape(-1), pa.float32()), dim
            ),
        }
    )
    table = table.replace_schema_metadata(
        {"embedspace.encoder": space.stamp.encoder, "embedspace.metric": space.stamp.metric}
    )
    pq.write_table(table, temp)


def copy_space(
    space: Space, to: str | Path, *, where: Mapping[str, Any] | None = None
) -> tuple[int, str]:
    """Copy the items of ``space`` (those matching ``where``), with their vectors, into a new
    space at ``to``: a ``postgresql://`` URL (the copy takes ``space``'s name there), a
    folder, or a bare name. Nothing is embedded again. Returns (items copied, where)."""
    from embedspace.store.database import KEYWORD_INDEXES, Stamp
    from embedspace.store.locations import postgres_location

    stamp = space.stamp
    if stamp.encoder == LandmarkFingerprinter.name:
        raise InvalidInput(
            f"Space '{space.name}' holds song fingerprints, which a copy does not carry yet: "
            f"copy its folder ({space.path}) as it is, or index the songs again at the new "
            "place. Song spaces live in SQLite only."
        )
    name = space.name if str(to).startswith(("postgresql://", "postgres://")) else None
    # A folder copy keeps the source's index settings; PostgreSQL has its own index.
    in_postgres = postgres_location(to, name) is not None
    ann = "hnsw" if in_postgres else stamp.ann
    made = Stamp(stamp.encoder, stamp.dim, stamp.metric, stamp.normalized, ann)
    kept = space.info().get("keyword_index")
    keywords = kept if not in_postgres and kept in KEYWORD_INDEXES else "porter"
    snapshot = space.snapshot(where)  # first: a bad filter stops before anything is made
    try:  # what the vectors were made with, so a later table's queries are refused
        made_with = space.vector_recipes()
    except EmbedspaceError:  # the source's encoder is not installed here: what is recorded
        made_with = list(space.info().get("recipes", []))
    target = Space.create(to, made, stamp.metric, name=name, keyword_index=keywords)
    try:
        _fill(target, snapshot)
        target.adopt_recipes(made_with)
    except BaseException:  # a half copy is no copy: remove it, so the command can run again
        target.close()
        with contextlib.suppress(EmbedspaceError):
            _remove(target, postgres_location(to, name))
        raise
    with target:
        location = postgres_location(to, name)
        described = f"{location[1]} in {target.info()['path']}" if location else str(target.path)
    return len(snapshot), described


def _remove(space: Space, location: tuple[str, str] | None) -> None:
    if location is None:
        delete_space(space.path)
    else:
        from embedspace.store.pg_connection import drop_space

        drop_space(*location)


def _fill(target: Space, snapshot: Snapshot) -> None:
    from embedspace.io.records import Record

    for start in range(0, len(snapshot), COPY_BATCH):
        stop = start + COPY_BATCH
        target.upsert(
            [
                Record(item_id, content, metadata, vector)
                for item_id, content, metadata, vector in zip(
                    snapshot.ids[start:stop],
                    snapshot.contents[start:stop],
                    snapshot.metadata[start:stop],
                    snapshot.vectors[start:stop],
                    strict=True,
                )
            ]
        )


def export_to(
    space: Space,
    *,
    output: str | Path | None = None,
    to: str | Path | None = None,
    where: Mapping[str, Any] | None = None,
) -> tuple[int, str]:
    """``export_space`` to the file ``output``, or ``copy_space`` to the space ``to`` (one
    of them); returns (items written, where)."""
    if (output is None) == (to is None):
        raise InvalidInput("Give one of an output file (-o FILE) and a space to copy to (--to).")
    if to is not None:
        return copy_space(space, to, where=where)
    return export_space(space, str(output), where=where), str(output)
