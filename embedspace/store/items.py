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


@dataclass(frozen=True, slots=True)
class Item:
    """A stored item with its vector."""

    id: str
    content: str
    metadata: dict[str, Any]
    vector: np.ndarray


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
    for position, meta in enumerate(metas):
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise InvalidInput(f"Metadata {position} is not JSON-serialisable: {error}.") from None
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
