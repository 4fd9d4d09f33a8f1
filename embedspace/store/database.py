"""The SQLite source of truth of a Space: schema, migrations, stamp and change log.

WAL mode with ``synchronous=FULL``: many readers and one writer at a time, and a committed
transaction survives ``kill -9`` and power loss. Every write is one ``BEGIN IMMEDIATE``
transaction. Rows get ``AUTOINCREMENT`` rowids that are never reused, so "rows added since
the index was built" is simply ``rowid > max_rowid``; deletions are logged with the data
version that made them, so a derived index can catch up incrementally.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.errors import CorruptSpace, SpaceClosed, SpaceNotFound

DATABASE_FILE = "space.db"
BUSY_TIMEOUT_SECONDS = 60.0

#: Numbered migrations: entry N brings the schema from version N to N + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE items (
        rowid INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        content TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        vector BLOB NOT NULL
    );
    CREATE INDEX items_content_hash ON items(content_hash);
    CREATE TABLE deletions (rowid INTEGER PRIMARY KEY, version INTEGER NOT NULL);
    CREATE INDEX deletions_version ON deletions(version);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a space is made of: the encoder that made its vectors, their size and metric."""

    encoder: str
    dim: int
    metric: str
    normalized: bool


@dataclass(frozen=True, slots=True)
class Changes:
    """Rows added after ``max_rowid`` and rows deleted after a data version."""

    version: int
    rowids: np.ndarray  # int64, ascending
    vectors: np.ndarray  # float32 (len(rowids), dim)
    deleted: np.ndarray  # int64


def connect(path: Path) -> sqlite3.Connection:
    """Open an existing space database; raises ``SpaceNotFound`` or ``CorruptSpace``."""
    file = path / DATABASE_FILE
    if not file.exists():
        raise SpaceNotFound(
            f"No space at {path}. Create it with 'embedspace index' or Space.create."
        )
    connection = _open(file)
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        connection.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
    except sqlite3.DatabaseError as error:
        connection.close()
        raise CorruptSpace(
            f"{file} is not a readable space database ({error}). Restore it from a backup "
            f"or delete the space and index the data again."
        ) from None
    if version > SCHEMA_VERSION:
        connection.close()
        raise CorruptSpace(
            f"{path} was made by a newer embedspace (schema {version} > {SCHEMA_VERSION}). "
            "Upgrade embedspace to open it."
        )
    if version < SCHEMA_VERSION:
        migrate(connection)
    return connection


def initialise(path: Path, stamp: Stamp, software_version: str) -> None:
    """Create the database in ``path`` (an empty folder) with its schema and stamp."""
    connection = _open(path / DATABASE_FILE)
    try:
        migrate(connection)
        with transaction(connection):
            write_meta(
                connection,
                {
                    "encoder": stamp.encoder,
                    "dim": stamp.dim,
                    "metric": stamp.metric,
                    "normalized": stamp.normalized,
                    "data_version": 0,
                    "count": 0,
                    "created_by": f"embedspace {software_version}",
                },
            )
    finally:
        connection.close()


def _open(file: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(
        file, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
    )
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
    except sqlite3.DatabaseError as error:
        connection.close()
        raise CorruptSpace(f"{file} is not a space database ({error}).") from None
    connection.create_function(NUMBER_FUNCTION, 1, _sql_number, deterministic=True)
    return connection


#: What reads as a number in text metadata (numbers stored as text by older CSV imports):
#: decimal or scientific notation with an optional sign, as the CSV reader's column types
#: (``io/csv_table.py``) read them. No leading zeros ("02139" is a code, not a number),
#: no "nan", "inf", underscores or thousands separators.
NUMBER = re.compile(r"\s*[+-]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")
#: The SQL function ``where`` filters call to compare text metadata as a number.
NUMBER_FUNCTION = "embedspace_number"


def parse_number(text: str) -> int | float | None:
    """``text`` as an int (no point or exponent) or a float, or ``None`` if it does not read
    as a number (see ``NUMBER``)."""
    if not NUMBER.fullmatch(text):
        return None
    stripped = text.strip()
    if any(c in stripped for c in ".eE"):
        return float(stripped)
    return int(stripped)


def _sql_number(value: object) -> int | float | None:
    number = parse_number(value) if isinstance(value, str) else None
    if isinstance(number, int) and not -(2**63) <= number < 2**63:
        return float(number)  # SQLite integers are 64-bit
    return number


class DatabaseHandle:
    """The open connection of one space. Every use after ``close()`` raises
    ``SpaceClosed`` (with what to do) instead of sqlite3's own error."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = connection

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection; raises ``SpaceClosed`` once closed."""
        if self._connection is None:
            raise SpaceClosed(
                f"Space '{self.path.name}' is closed. Open it again with "
                f"Space.open({str(self.path)!r}), or use it inside its 'with' block."
            )
        return self._connection

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._connection is None

    def close(self) -> None:
        """Close the connection (again: nothing happens)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def migrate(connection: sqlite3.Connection) -> None:
    """Apply the migrations this database has not had yet, each in its own transaction."""
    with transaction(connection):
        current = connection.execute("PRAGMA user_version").fetchone()[0]
        for number in range(current, SCHEMA_VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextmanager
def transaction(connection: sqlite3.Connection, *, write: bool = True) -> Iterator[None]:
    """One transaction: ``BEGIN IMMEDIATE`` for writes (takes the write lock up front)."""
    connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def read_meta(connection: sqlite3.Connection) -> dict[str, Any]:
    """All meta values, decoded from JSON."""
    return {k: json.loads(v) for k, v in connection.execute("SELECT key, value FROM meta")}


def write_meta(connection: sqlite3.Connection, values: dict[str, Any]) -> None:
    """Set meta values (inside the caller's transaction)."""
    connection.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [(k, json.dumps(v)) for k, v in values.items()],
    )


def read_stamp(connection: sqlite3.Connection) -> Stamp:
    """The space's encoder stamp."""
    meta = read_meta(connection)
    return Stamp(
        str(meta["encoder"]), int(meta["dim"]), str(meta["metric"]), bool(meta["normalized"])
    )


def data_version(connection: sqlite3.Connection) -> int:
    """The number of committed write transactions: derived indexes are stamped with it."""
    row = connection.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
    return int(json.loads(row[0])) if row else 0


def item_count(connection: sqlite3.Connection) -> int:
    """How many items the space holds (kept in the meta table by every write)."""
    row = connection.execute("SELECT value FROM meta WHERE key = 'count'").fetchone()
    return int(json.loads(row[0])) if row else 0


def changes_since(
    connection: sqlite3.Connection, version: int, max_rowid: int, dim: int
) -> Changes:
    """Rows with ``rowid > max_rowid`` and deletions after ``version``, read consistently."""
    with transaction(connection, write=False):
        current = data_version(connection)
        rows = connection.execute(
            "SELECT rowid, vector FROM items WHERE rowid > ? ORDER BY rowid", (max_rowid,)
        ).fetchall()
        deleted = connection.execute(
            "SELECT rowid FROM deletions WHERE version > ?", (version,)
        ).fetchall()
    rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vectors = vectors_from_blobs([r[1] for r in rows], dim)
    return Changes(current, rowids, vectors, np.array([r[0] for r in deleted], dtype=np.int64))


def vectors_from_blobs(blobs: list[bytes], dim: int) -> np.ndarray:
    """Stack float32 BLOBs into a ``(len(blobs), dim)`` array (one copy)."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)
