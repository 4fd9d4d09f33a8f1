"""What goes into and comes out of a Space: items, matches, write results, and the checks
that turn user input into Records (all or nothing: a bad input raises before any write)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedspace.errors import InvalidInput
from embedspace.io.records import Record, derive_id
from embedspace.store.validate import (
    check_dim,
    check_id,
    check_text,
    check_vectors,
    listed,
    metadata_json,
    vector_rows,
)

__all__ = [
    "Item",
    "Match",
    "Snapshot",
    "WriteResult",
    "build_records",
    "check_dim",
    "check_records",
    "check_unique",
    "id_list",
    "metadata_json",
    "records_to_write",
]


@dataclass(frozen=True, slots=True)
class Match:
    """One search result; ``score`` is higher-is-better for every metric."""

    id: str
    score: float
    content: str
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True, repr=False)
class Item:
    """A stored item with its vector (``(dim,)`` float32, as stored: unit length in cosine
    spaces). Its repr shows the vector's type and size, not its values."""

    id: str
    content: str
    metadata: dict[str, Any]
    vector: np.ndarray

    def __repr__(self) -> str:
        return (
            f"Item(id={self.id!r}, content={_clip(repr(self.content))}, "
            f"metadata={_clip(repr(self.metadata))}, vector={_array_kind(self.vector)})"
        )


@dataclass(frozen=True)
class Snapshot:
    """Every item of a space read at one moment: ids, vectors ``(n, dim)`` (as stored:
    unit length in cosine spaces), contents and metadata, in insertion order."""

    ids: list[str]
    vectors: np.ndarray
    contents: list[str]
    metadata: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"Snapshot({len(self.ids):,} items, vectors={_array_kind(self.vectors)})"


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _array_kind(array: np.ndarray) -> str:
    """``float32[384]``: an array's type and shape without its values."""
    return f"{array.dtype}[{', '.join(str(n) for n in array.shape)}]"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one ``add``/``upsert`` did: ``embedded`` counts items the encoder actually ran on."""

    added: int
    updated: int
    unchanged: int
    embedded: int
    removed: int = 0  # old passages of re-indexed documents (``upsert(replacing=...)``)


def build_records(
    texts: Sequence[str],
    ids: Sequence[str] | None,
    metadata: Sequence[Mapping[str, Any]] | None,
    vectors: np.ndarray | None,
    dim: int,
    metric: str = "cosine",
) -> list[Record]:
    """Records from texts and their optional ids, metadata and vectors, all checked."""
    texts = listed(texts, "texts", "add([text])")
    for position, text in enumerate(texts):
        check_text(text, f"Text {position}")
    item_ids = id_list(ids) if ids is not None else [derive_id(t) for t in texts]
    metas = listed(metadata, "metadata mappings", "[{...}]") if metadata is not None else None
    if metas is None:
        metas = [{} for _ in texts]
    if len(item_ids) != len(texts) or len(metas) != len(texts):
        raise InvalidInput(
            f"Got {len(texts)} texts, {len(item_ids)} ids and {len(metas)} metadata entries; "
            "they must be the same length."
        )
    check_unique(item_ids)
    for item_id, meta in zip(item_ids, metas, strict=True):
        metadata_json(meta, item_id)
    metas = [dict(m) for m in metas]
    rows: list[np.ndarray | None] = [None] * len(texts)
    if vectors is not None:
        array = vector_rows(vectors, "the given vectors")
        if array.ndim != 2 or len(array) != len(texts):
            raise InvalidInput(f"vectors must have shape ({len(texts)}, {dim}), not {array.shape}.")
        check_vectors(array, dim, metric, "the given vectors")
        rows = list(array)
    return [Record(i, t, m, v) for i, t, m, v in zip(item_ids, texts, metas, rows, strict=True)]


def id_list(ids: Sequence[str]) -> list[str]:
    """``ids`` as a list of checked ids (non-empty strings of valid Unicode)."""
    return [check_id(item_id) for item_id in listed(ids, "ids", "delete([id])")]


def check_unique(ids: list[str]) -> None:
    """Raise ``InvalidInput`` naming ids that repeat."""
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
        raise InvalidInput(f"Ids repeat within one call: {', '.join(repeated[:5])}.")


def check_records(
    records: Sequence[Record], dim: int, metric: str = "cosine", encoder: str | None = None
) -> None:
    """Check Records as a write would, before anything is written: ids, contents,
    metadata, vectors (size, finite, usable in ``metric``), ids unique."""
    for record in records:
        check_id(record.id)
        if record.modality in ("image", "audio"):
            if not isinstance(record.content, str) or not record.content:
                raise InvalidInput(f"Item '{record.id}' has no {record.modality} file path.")
        else:
            check_text(record.content, f"The text of item '{record.id}'")
        metadata_json(record.metadata, record.id)
        if record.vector is not None:
            vector = vector_rows(record.vector, f"the vector of item '{record.id}'")
            check_vectors(vector.reshape(1, -1), dim, metric, f"item '{record.id}'", encoder)
    check_unique([r.id for r in records])


def records_to_write(
    items: Sequence[str] | Sequence[Record],
    ids: Sequence[str] | None,
    metadata: Sequence[Mapping[str, Any]] | None,
    vectors: np.ndarray | None,
    dim: int,
    metric: str = "cosine",
) -> list[Record]:
    """What a write stores: Records as given (checked: ids, texts, metadata, vectors, unique
    ids), or Records built from texts, ids, metadata and vectors."""
    items = listed(items, "texts (or Records)", "add([text])")
    if items and all(isinstance(r, Record) for r in items):
        if ids is not None or metadata is not None or vectors is not None:
            raise InvalidInput(
                "Records carry their own ids, metadata and vectors: pass only the records."
            )
        records = [r for r in items if isinstance(r, Record)]
        check_records(records, dim, metric)
        return records
    return build_records(items, ids, metadata, vectors, dim, metric)


def rows_by_id(
    connection: Any, name: str, columns: str, wanted: list[str], chunk: int = 900
) -> dict[str, tuple[Any, ...]]:
    """``id -> row`` of the SQLite items table (``columns`` must start with ``id``), read
    ``chunk`` ids at a time; every id must exist, else ``InvalidInput`` names the missing
    ones (in space ``name``)."""
    found: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(wanted), chunk):
        part = wanted[start : start + chunk]
        marks = ",".join("?" * len(part))
        for row in connection.execute(f"SELECT {columns} FROM items WHERE id IN ({marks})", part):
            found[row[0]] = row
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InvalidInput(f"Not in space '{name}': {', '.join(missing[:5])}.")
    return found
