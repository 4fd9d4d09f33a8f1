"""The Space's multimodal and multitool entry points, kept apart from the core write and
search paths in ``space.py``: adding a folder of images, searching with an image, reading a
consistent snapshot for the ops, and writing metadata back (e.g. cluster labels)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from embedspace.errors import InvalidInput
from embedspace.io.images import read_image_records
from embedspace.io.readers import Rejection
from embedspace.io.records import Record
from embedspace.store import database as db
from embedspace.store.filters import where_sql
from embedspace.store.items import Match, Snapshot, WriteResult, id_list

if TYPE_CHECKING:
    from embedspace.store.space import Space


class SpaceTools:
    """Mixed into ``Space``."""

    def upsert_images(
        self, path: str | Path | Sequence[str | Path], *, progress: bool = False
    ) -> tuple[WriteResult, list[Rejection]]:
        """Insert or replace the images in a folder (recursively), a file, or a list of files.

        Ids are paths relative to the folder named. Corrupt or non-image files are skipped
        and returned as Rejections (each with its path); nothing half-written is stored.
        """
        space = cast("Space", self)
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
        return space.upsert_records(list(records.values()), progress=progress), rejected

    def update_metadata(self, updates: Mapping[str, Mapping[str, Any]]) -> int:
        """Merge new metadata fields into existing items, in one transaction (vectors are
        untouched). Raises ``InvalidInput`` naming ids that are not in the space."""
        space = cast("Space", self)
        wanted = id_list(list(updates))
        with db.transaction(space._connection):
            found = space._lookup(wanted)
            missing = [i for i in wanted if i not in found]
            if missing:
                raise InvalidInput(
                    f"Not in space '{space.name}': {', '.join(missing[:5])}; nothing was changed."
                )
            rows = []
            for id_ in wanted:
                rowid, _, old = found[id_]
                merged = {**json.loads(old), **dict(updates[id_])}
                rows.append((json.dumps(merged, sort_keys=True, ensure_ascii=False), rowid))
            space._connection.executemany("UPDATE items SET metadata = ? WHERE rowid = ?", rows)
            space._bump(0)
        return len(rows)

    def snapshot(self, where: Mapping[str, Any] | None = None) -> Snapshot:
        """All items (or those whose metadata matches ``where``) read in one consistent
        query: what the multitool's operations work on."""
        space = cast("Space", self)
        if where:
            clause, parameters = where_sql(where)
            query = f"SELECT id, content, metadata, vector FROM items WHERE {clause} ORDER BY rowid"
        else:
            query, parameters = "SELECT id, content, metadata, vector FROM items ORDER BY rowid", []
        rows = space._connection.execute(query, parameters).fetchall()
        vectors = db.vectors_from_blobs([r[3] for r in rows], space.stamp.dim).copy()
        return Snapshot(
            [r[0] for r in rows], vectors, [r[1] for r in rows], [json.loads(r[2]) for r in rows]
        )

    def search_image(
        self,
        image: str | Path | Any,
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        exact: bool = False,
    ) -> list[Match]:
        """The ``k`` items closest to an image (a file path or a PIL image): reverse image
        search in an image space, or image-to-text in a text-and-image space."""
        space = cast("Space", self)
        if k < 1:
            raise InvalidInput(f"k must be at least 1, not {k}.")
        if isinstance(image, str | Path) and not Path(image).is_file():
            raise InvalidInput(f"No image file at {image}. Check the path.")
        vector = space._prepare(space.encoder.encode_images([image]))
        return space._matches(*space._nearest(vector, k, where, exact))
