"""Record matching on files (CSV/JSONL/JSON/Parquet): the tables are read, the fields
named, the records matched (``ops.record_match``) and given their ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedspace.encoders import Encoder
from embedspace.errors import InvalidInput
from embedspace.io.labelled import read_table
from embedspace.ops.record_match import RecordPair, dedup_records, groups, match_records
from embedspace.progress import ProgressCallback, report


@dataclass(frozen=True)
class FileMatches:
    """Pairs of records of two tables that describe the same thing (``pairs`` index the
    rows), with the rows, their ids and the fields compared."""

    fields: list[str]
    left_rows: list[dict[str, Any]]
    right_rows: list[dict[str, Any]]
    left_ids: list[str]
    right_ids: list[str]
    pairs: list[RecordPair]


@dataclass(frozen=True)
class RecordGroup:
    """Rows that are probably one entity; ``score`` is the lowest pair score among them."""

    members: list[int]
    score: float


@dataclass(frozen=True)
class FileDuplicates:
    """Groups of records of one table that are probably the same entity, largest first,
    with the rows, their ids and the fields compared."""

    fields: list[str]
    rows: list[dict[str, Any]]
    ids: list[str]
    groups: list[RecordGroup]


def parse_fields(on: str | Sequence[str]) -> list[str]:
    """Field names from ``"a,b"`` or a sequence; at least one."""
    parts = on.split(",") if isinstance(on, str) else list(on)
    fields = [f.strip() for f in parts if f.strip()]
    if not fields:
        raise InvalidInput("--on needs at least one field name.")
    return fields


def record_ids(rows: Sequence[dict[str, Any]], field: str | None) -> list[str]:
    """The ids of ``rows``: the column ``field``, else 'id' when every row has one, else
    the row numbers from 1."""
    name = field or ("id" if all("id" in r for r in rows) else None)
    if name is None:
        return [str(i) for i in range(1, len(rows) + 1)]
    if any(name not in r for r in rows):
        raise InvalidInput(f"Some rows have no '{name}' field; name another with --id-field.")
    return [str(r[name]) for r in rows]


def match_files(
    left: str | Path,
    right: str | Path,
    on: str | Sequence[str],
    *,
    id_field: str | None = None,
    threshold: float = 0.7,
    candidates: int = 10,
    encoder: str | Encoder | None = None,
    text_weight: float = 0.3,
    on_progress: ProgressCallback | None = None,
) -> FileMatches:
    """The records of the tables ``left`` and ``right`` that match on the fields ``on``
    (see ``match_records``)."""
    fields = parse_fields(on)
    left_rows, right_rows = read_table(left), read_table(right)
    report(on_progress, f"Matching {len(left_rows):,} with {len(right_rows):,} records", 0, None)
    pairs = match_records(
        left_rows,
        right_rows,
        fields,
        threshold=threshold,
        candidates=candidates,
        encoder=encoder,
        text_weight=text_weight,
    )
    left_ids, right_ids = record_ids(left_rows, id_field), record_ids(right_rows, id_field)
    return FileMatches(fields, left_rows, right_rows, left_ids, right_ids, pairs)


def dedup_file(
    file: str | Path,
    on: str | Sequence[str],
    *,
    id_field: str | None = None,
    threshold: float = 0.7,
    candidates: int = 10,
    encoder: str | Encoder | None = None,
    text_weight: float = 0.3,
    on_progress: ProgressCallback | None = None,
) -> FileDuplicates:
    """Groups of records of the table ``file`` that match on the fields ``on`` (see
    ``dedup_records``), largest first."""
    fields = parse_fields(on)
    rows = read_table(file)
    report(on_progress, f"Comparing {len(rows):,} records", 0, None)
    pairs = dedup_records(
        rows,
        fields,
        threshold=threshold,
        candidates=candidates,
        encoder=encoder,
        text_weight=text_weight,
    )
    ids = record_ids(rows, id_field)
    found = groups(pairs, len(rows))
    lowest: dict[int, float] = {}
    member_group = {m: g[0] for g in found for m in g}
    for pair in pairs:
        key = member_group[pair.left]
        lowest[key] = min(lowest.get(key, 1.0), pair.score)
    return FileDuplicates(fields, rows, ids, [RecordGroup(g, lowest[g[0]]) for g in found])
