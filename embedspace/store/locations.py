"""Where a space lives: a folder (a bare name in ``$EMBEDSPACE_HOME``, or a path), or a
database (a ``postgresql://`` URL and a name, or a bare name while ``$EMBEDSPACE_STORE``
names a PostgreSQL database)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from embedspace import config
from embedspace.errors import InvalidInput
from embedspace.store.validate import MAX_NAME, checked_path

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: Where spaces other than SQLite folders live, by URL scheme: the class that keeps them
#: (``"module:class"``, imported on first use, as encoders are found by name).
BACKENDS = {
    "postgresql://": "embedspace.store.postgres:PostgresSpace",
    "postgres://": "embedspace.store.postgres:PostgresSpace",
}


def backend(url: str) -> Any:
    """The class that keeps spaces at ``url`` (``BACKENDS``)."""
    reference = next(r for scheme, r in BACKENDS.items() if url.startswith(scheme))
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def postgres_location(name_or_path: str | Path, name: str | None) -> tuple[str, str] | None:
    """``(url, name)`` when the space lives in PostgreSQL: a ``postgresql://`` URL with
    ``name``, or a bare name while ``$EMBEDSPACE_STORE`` names a database; else ``None``."""
    text = str(name_or_path)
    if isinstance(name_or_path, str) and text.startswith(tuple(BACKENDS)):
        if not name:
            raise InvalidInput(
                "Name the space in the database: Space.open(url, name='news') (on the command "
                "line: --store URL and the space's name)."
            )
        return text, name
    store = config.store_url()
    if store and isinstance(name_or_path, str) and NAME.fullmatch(text):
        return store, text
    return None


def resolve(name_or_path: str | Path) -> Path:
    """A bare name lives in ``$EMBEDSPACE_HOME``; anything with a path separator is a path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or "\\" in text or text.startswith("~"):
        try:
            return checked_path(Path(text).expanduser())
        except RuntimeError:  # ~user of no such user
            raise InvalidInput(
                f"No home folder for {text.split('/')[0]!r}: check the path."
            ) from None
    if not NAME.fullmatch(text) or len(text) > MAX_NAME:
        raise InvalidInput(
            f"{text[:MAX_NAME]!r} is not a valid space name: use up to {MAX_NAME} letters, "
            "digits, '-', '_' and '.', starting with a letter or digit (or give a path such "
            "as ./my-space)."
        )
    return config.home() / text
