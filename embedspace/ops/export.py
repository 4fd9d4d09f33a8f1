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

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from embedspace.io.outputs import check_output_file, write_file
from embedspace.ops.ingest import SOURCE_KEY
from embedspace.store import Snapshot, Space

FORMATS = (".parquet", ".jsonl")


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
