"""The recipes of a PostgreSQL space's vectors (the ``recipes`` column of
``embedspace_spaces``): checked before queries and writes, recorded in the write's
transaction, as ``store.writes`` does for SQLite spaces. PostgreSQL spaces kept the column
from their creation, so none counts as made before recipes were kept."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from embedspace.encoders import Encoder
from embedspace.store.writes import check_recipe, holds_rows, refuse_incomparable_write


def stored(connection: Any, name: str) -> list[str]:
    """The recipes recorded for the space ``name``."""
    sql = "SELECT recipes FROM embedspace_spaces WHERE name = %s"
    row = connection.execute(sql, (name,)).fetchone()
    return [str(r) for r in row[0]] if row else []


def check_query(connection: Any, items: str, name: str, made_by: str, encoder: Encoder) -> None:
    """``check_recipe`` for queries of ``encoder`` on the space ``name`` (items in
    ``items``; its stamp's encoder ``made_by``)."""
    if encoder.runtime_recipe():
        kept = stored(connection, name)
        check_recipe(kept, holds_rows(connection, items), name, made_by, encoder)


def refuse_write(connection: Any, items: str, name: str, made_by: str, encoder: Encoder) -> None:
    """``refuse_incomparable_write`` for vectors of ``encoder`` about to join the space."""
    recorded = lambda: stored(connection, name)  # noqa: E731
    refuse_incomparable_write(connection, items, recorded, name, made_by, encoder)


def record(connection: Any, items: str, name: str, made_by: str, encoder: Encoder) -> None:
    """Before this write's rows: refuse vectors that cannot join, then remember the recipe
    ``encoder`` runs (a space without rows starts its list again)."""
    refuse_write(connection, items, name, made_by, encoder)
    recipe = encoder.runtime_recipe()
    if not recipe:
        return
    if holds_rows(connection, items):
        connection.execute(
            "UPDATE embedspace_spaces SET recipes = recipes || to_jsonb(%s::text) "
            "WHERE name = %s AND NOT recipes ? %s",
            (recipe, name, recipe),
        )
    else:
        connection.execute(
            "UPDATE embedspace_spaces SET recipes = jsonb_build_array(%s::text) WHERE name = %s",
            (recipe, name),
        )


def adopt(connection: Any, name: str, made_with: Sequence[str]) -> None:
    """Add ``made_with`` to the space's recipes (those it lacks, in order)."""
    merged = list(dict.fromkeys([*stored(connection, name), *made_with]))
    sql = "UPDATE embedspace_spaces SET recipes = %s::jsonb WHERE name = %s"
    connection.execute(sql, (json.dumps(merged), name))
