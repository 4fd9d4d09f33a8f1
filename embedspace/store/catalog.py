"""The spaces under ``$EMBEDSPACE_HOME``: list them, and delete one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from embedspace import config
from embedspace.errors import EmbedspaceError, InvalidInput, SpaceNotFound
from embedspace.store.database import DATABASE_FILE
from embedspace.store.locations import postgres_location, resolve
from embedspace.store.space import Space


def list_spaces(home: Path | None = None) -> list[dict[str, Any]]:
    """``info()`` of every space in ``home`` (default ``$EMBEDSPACE_HOME``), by name; a space
    that cannot be opened is listed with an ``error`` instead."""
    store = config.store_url()
    if store and home is None:
        return _postgres_spaces(store)
    folder = home or config.home()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not (path / DATABASE_FILE).exists():
            continue
        try:
            with Space.open(path) as space:
                found.append(space.info())
        except EmbedspaceError as error:  # one broken space must not hide the others
            found.append({"name": path.name, "path": str(path), "error": str(error)})
    return found


def _postgres_spaces(url: str) -> list[dict[str, Any]]:
    from embedspace.store.pg_connection import space_names

    found = []
    for name in space_names(url):
        try:
            with Space.open(url, name=name) as space:
                found.append(space.info())
        except EmbedspaceError as error:  # one broken space must not hide the others
            found.append({"name": name, "path": url, "error": str(error)})
    return found


def delete_space(name_or_path: str | Path) -> Path:
    """Delete a space folder (or a space in the PostgreSQL database ``$EMBEDSPACE_STORE``
    names); refuses folders that are not spaces. Returns the path (or the name)."""
    where = postgres_location(name_or_path, None)
    if where is not None:
        from embedspace.store.pg_connection import drop_space

        drop_space(*where)
        return Path(where[1])
    path = resolve(name_or_path)
    if not path.exists():
        raise SpaceNotFound(f"No space at {path}. See 'embedspace spaces'.")
    if not (path / DATABASE_FILE).exists():
        raise InvalidInput(f"{path} is not a space (no {DATABASE_FILE}); not deleting it.")
    shutil.rmtree(path)
    return path


def database_identity(path: Path) -> tuple[int, int] | None:
    """Which database file the space folder ``path`` has now (device and inode; ``None``
    for none). Deleting the space, or replacing it by a new one under the same name, changes
    it: a process holding the space open can tell that its handle is stale (one ``stat``,
    ~2 us; the server checks it per request)."""
    try:
        found = os.stat(path / DATABASE_FILE)
    except OSError:
        return None
    return (found.st_dev, found.st_ino)
