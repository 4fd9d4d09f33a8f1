"""Whether something derived from a space's database (the HNSW sidecar, vectors held in
memory) still belongs to it.

A derived copy records the space id and the data version it reflects, with that version's
random token (``database.version_token``). It belongs to the database when the ids agree,
the database has reached that version, and the database's token for it is the same: then
the database's history up to that version is the one the copy saw, and what was committed
since can be read on top of it. Otherwise the database went backwards (an older
``space.db`` restored, its ``-wal`` file lost) or another history took its place (a restored
copy written to since, reusing row numbers), or the copy is another space's.
"""

from __future__ import annotations

import sqlite3

from embedspace.store.database import data_version, space_id, version_token


def lineage_problem(
    connection: sqlite3.Connection, version: int, token: str | None, *, current: int | None = None
) -> str | None:
    """Why a copy of the database at data ``version`` (with ``token``) cannot be brought up
    to date from the database as it is now (``current``: its data version, if just read),
    or ``None`` if it can."""
    now = data_version(connection) if current is None else current
    if now < version:
        return (
            f"the database went back from data version {version} to {now} (an older copy "
            "of space.db was restored, or its -wal file was lost)"
        )
    if version_token(connection, version) != token:
        return (
            f"the database's history differs from the one it was built from at data "
            f"version {version} (an older copy of space.db was restored and written to since)"
        )
    return None


def binding_problem(
    connection: sqlite3.Connection,
    built_for: str | None,
    version: int,
    token: str | None,
    *,
    current: int | None = None,
) -> str | None:
    """Why an index built for space ``built_for`` at data ``version`` (with ``token``) does
    not belong to this database, or ``None`` if it does (see the module docstring)."""
    here = space_id(connection)
    if built_for != here:
        if here is None:
            return (
                "the database has no space id yet (made by an older embedspace; it gets "
                "one when it is next opened where it can be written)"
            )
        return f"it was built for another space (space id {built_for}, this one is {here})"
    return lineage_problem(connection, version, token, current=current)
