"""Looking at and removing the items of a space by id or metadata (``embedspace items``,
``embedspace remove``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from embedspace.errors import InvalidInput
from embedspace.ops.stages import counted
from embedspace.store import Snapshot, Space


@dataclass(frozen=True)
class Listed:
    """One item as listed: id, content and metadata (no vector)."""

    id: str
    content: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Listing:
    """The first ``limit`` matching items (insertion order) and how many match in all."""

    items: list[Listed]
    total: int


@dataclass(frozen=True)
class Removal:
    """How many items a removal deleted, and the asked-for ids that were not there."""

    removed: int
    missing: list[str]


def list_items(
    space: Space, *, where: Mapping[str, Any] | None = None, limit: int | None = None
) -> Listing:
    """The items of ``space`` (those whose metadata matches ``where``), oldest first, at
    most ``limit`` of them."""
    if limit is not None and limit < 1:
        raise InvalidInput(f"limit must be at least 1, not {limit}.")
    snapshot = space.snapshot(where)
    count = len(snapshot) if limit is None else min(limit, len(snapshot))
    items = [
        Listed(snapshot.ids[i], snapshot.contents[i], snapshot.metadata[i]) for i in range(count)
    ]
    return Listing(items, len(snapshot))


def snapshot_matching(space: Space, where: Mapping[str, Any] | None) -> Snapshot:
    """``space.snapshot(where)``; ``InvalidInput`` when ``where`` keeps no item of a space
    that has some, so an application says "nothing matches the filter", not "the space is
    empty" or "too few items"."""
    snapshot = space.snapshot(where)
    if where and not len(snapshot) and len(space):
        shown = json.dumps(dict(where), ensure_ascii=False, default=str)
        raise InvalidInput(
            f"No item of space '{space.name}' matches the filter {shown} (of "
            f"{counted(len(space), 'item')}): check the filter's field names and values."
        )
    return snapshot


def remove_items(space: Space, ids: Sequence[str], *, missing_ok: bool = False) -> Removal:
    """Delete ``ids`` from ``space`` in one transaction (a document's id: all its
    passages).

    Raises ``InvalidInput`` naming the ids that are not in the space (and deletes nothing)
    unless ``missing_ok``, in which case they are returned in ``missing``.
    """
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        raise InvalidInput("Name at least one id to remove.")
    missing = [item_id for item_id in wanted if space.get(item_id) is None]
    if missing:  # a document stored as passages goes with all of them (``Space.delete``)
        documents = space.documents_among(missing)
        missing = [item_id for item_id in missing if item_id not in documents]
    if missing and not missing_ok:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise InvalidInput(
            f"Not in space '{space.name}': {shown}; nothing was removed. List the ids with "
            f"'embedspace items {space.name}', or pass --missing-ok to remove the others."
        )
    absent = set(missing)
    present = [item_id for item_id in wanted if item_id not in absent]
    return Removal(space.delete(present) if present else 0, missing)
