"""What ``Space.info`` says about a space: stamp, size, versions and index state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embedspace.store import database as db


def space_info(
    name: str, path: Path, stamp: db.Stamp, meta: dict[str, Any], recipe_here: str
) -> dict[str, Any]:
    """The space's description as plain JSON-able values (``meta``: its meta table)."""
    return {
        "name": name,
        "path": str(path),
        "encoder": stamp.encoder,
        "dim": stamp.dim,
        "metric": stamp.metric,
        "recipes": [str(r) for r in meta.get("recipes", [])],
        "recipe_here": recipe_here,
        "keyword_index": str(meta.get("keyword_index", "porter")),
        "ann": stamp.ann,
        "count": int(meta.get("count", 0)),
        "data_version": int(meta.get("data_version", 0)),
        "created_by": meta.get("created_by"),
        "hnsw_index_bytes": sum(f.stat().st_size for f in path.glob("hnsw*") if f.is_file()),
        "database_bytes": sum(
            f.stat().st_size for f in path.glob(db.DATABASE_FILE + "*") if f.is_file()
        ),
    }
