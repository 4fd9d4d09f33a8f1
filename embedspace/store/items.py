"""What goes into and comes out of a Space: items, matches, write results, and the checks
that turn user input into Records (all or nothing: a bad input raises before any write)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedspace.errors import DimensionMismatch, InvalidInput
from embedspace.io.records import Record, derive_id


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


def build_records(
    texts: Sequence[str],
    ids: Sequence[str] | None,
    metadata: Sequence[Mapping[str, Any]] | None,
    vectors: np.ndarray | None,
    dim: int,
) -> list[Record]:
    if isinstance(texts, str | bytes):
        raise InvalidInput("Pass a list of texts, not one string: add([text]).")
    texts = list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"Text {position} is empty or not a string; every item needs text.")
    item_ids = id_list(ids) if ids is not None else [derive_id(t) for t in texts]
    metas = [dict(m) for m in metadata] if metadata is not None else [{} for _ in texts]
    if len(item_ids) != len(texts) or len(metas) != len(texts):
        raise InvalidInput(
            f"Got {len(texts)} texts, {len(item_ids)} ids and {len(metas)} metadata entries; "
            "they must be the same length."
        )
    check_unique(item_ids)
    for item_id, meta in zip(item_ids, metas, strict=True):
        metadata_json(meta, item_id)
    rows: list[np.ndarray | None] = [None] * len(texts)
    if vectors is not None:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2 or len(array) != len(texts):
            raise InvalidInput(f"vectors must have shape ({len(texts)}, {dim}), not {array.shape}.")
        check_dim(array, dim, "the given vectors")
        rows = list(array)
    return [Record(i, t, m, v) for i, t, m, v in zip(item_ids, texts, metas, rows, strict=True)]


def id_list(ids: Sequence[str]) -> list[str]:
    if isinstance(ids, str | bytes):
        raise InvalidInput("Pass a list of ids, not one string: e.g. delete([id]).")
    result = list(ids)
    for item_id in result:
        if not isinstance(item_id, str) or not item_id:
            raise InvalidInput(f"Ids must be non-empty strings, not {item_id!r}.")
    return result


def check_unique(ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
        raise InvalidInput(f"Ids repeat within one call: {', '.join(repeated[:5])}.")


def check_dim(vectors: np.ndarray, dim: int, what: str, encoder: str | None = None) -> None:
    if vectors.shape[-1] != dim:
        made_by = f" made by '{encoder}'" if encoder else ""
        raise DimensionMismatch(
            f"{what.capitalize()} has {vectors.shape[-1]} values per vector, but the space holds "
            f"{dim}-d vectors{made_by}. Embed with the space's encoder."
        )


def metadata_json(metadata: Mapping[str, Any], item_id: str) -> str:
    """Metadata as stored: JSON with its types kept (numbers, booleans, strings, null, lists,
    mappings), numpy scalars as plain numbers. Raises ``InvalidInput`` for NaN, infinity
    or values JSON cannot hold."""
    try:
        return json.dumps(
            metadata, sort_keys=True, ensure_ascii=False, allow_nan=False, default=_plain
        )
    except (TypeError, ValueError) as error:
        raise InvalidInput(
            f"The metadata of item '{item_id}' cannot be stored: {error}. Use strings, "
            "numbers, booleans, None, lists and mappings (None for a missing number)."
        ) from None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")


def records_to_write(
    items: Sequence[str] | Sequence[Record],
    ids: Sequence[str] | None,
    metadata: Sequence[Mapping[str, Any]] | None,
    vectors: np.ndarray | None,
    dim: int,
) -> list[Record]:
    """What a write stores: Records as given (checked: vector sizes, unique ids), or
    Records built from texts, ids, metadata and vectors."""
    listed = list(items) if not isinstance(items, str | bytes) else items
    if listed and all(isinstance(r, Record) for r in listed):
        if ids is not None or metadata is not None or vectors is not None:
            raise InvalidInput(
                "Records carry their own ids, metadata and vectors: pass only the records."
            )
        records = [r for r in listed if isinstance(r, Record)]
        for record in records:
            if record.vector is not None:
                check_dim(record.vector.reshape(1, -1), dim, f"item '{record.id}'")
        check_unique([r.id for r in records])
        return records
    return build_records(listed, ids, metadata, vectors, dim)  # type: ignore[arg-type]
