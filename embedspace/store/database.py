"""The SQLite source of truth of a Space: schema, migrations, stamp and change log.

WAL mode with ``synchronous=FULL``: many readers and one writer at a time, and a committed
transaction survives ``kill -9`` and power loss. Every write is one ``BEGIN IMMEDIATE``
transaction. Rows get ``AUTOINCREMENT`` rowids that are never reused, so "rows added since
the index was built" is simply ``rowid > max_rowid``; deletions are logged with the data
version that made them, so a derived index can catch up incrementally.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import json
import os
import re
import sqlite3
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.errors import (
    CorruptSpace,
    EmbedspaceError,
    ReadOnlySpace,
    SpaceClosed,
    SpaceNotFound,
    StorageError,
)
from embedspace.io.outputs import write_error
from embedspace.store.fingerprints import SCHEMA as FINGERPRINT_SCHEMA

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
    # 2: the lineage a derived index is bound to. A space id (random, made with the space;
    # existing spaces get theirs here), and a random token per data version, recorded by a
    # trigger in the transaction that sets it: two databases with the same data version but
    # another history (a restored copy written to since) have other tokens.
    """
    CREATE TABLE versions (version INTEGER PRIMARY KEY, token TEXT NOT NULL);
    CREATE TRIGGER versions_on_insert AFTER INSERT ON meta WHEN NEW.key = 'data_version'
    BEGIN
        INSERT OR REPLACE INTO versions(version, token)
        VALUES (CAST(NEW.value AS INTEGER), lower(hex(randomblob(8))));
    END;
    CREATE TRIGGER versions_on_update AFTER UPDATE OF value ON meta
    WHEN NEW.key = 'data_version' AND NEW.value IS NOT OLD.value
    BEGIN
        INSERT OR REPLACE INTO versions(version, token)
        VALUES (CAST(NEW.value AS INTEGER), lower(hex(randomblob(8))));
    END;
    INSERT OR IGNORE INTO meta(key, value)
    VALUES ('space_id', '"' || lower(hex(randomblob(16))) || '"');
    INSERT OR REPLACE INTO versions(version, token)
    SELECT CAST(value AS INTEGER), lower(hex(randomblob(8))) FROM meta
    WHERE key = 'data_version';
    """,
    # 3: a keyword index (FTS5, bm25) over the items' content, an external-content table
    # kept by triggers, so it changes in the same transaction as the items. unicode61 folds
    # case and (remove_diacritics 2) accents; porter stems English words. Existing spaces
    # get theirs built here ('rebuild' reads every item). Also an index of the document a
    # passage belongs to (long documents are stored as passages: ``io/passages.py``).
    """
    CREATE VIRTUAL TABLE items_fts USING fts5(
        content, content='items', content_rowid='rowid',
        tokenize='porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, content) VALUES (NEW.rowid, NEW.content);
    END;
    CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, content) VALUES ('delete', OLD.rowid, OLD.content);
    END;
    CREATE TRIGGER items_fts_update AFTER UPDATE OF content ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, content) VALUES ('delete', OLD.rowid, OLD.content);
        INSERT INTO items_fts(rowid, content) VALUES (NEW.rowid, NEW.content);
    END;
    INSERT INTO items_fts(items_fts) VALUES ('rebuild');
    CREATE INDEX items_document ON items(json_extract(metadata, '$._document'));
    """,
    # 4: song fingerprints (landmarks), for spaces of the landmarks encoder; empty in others.
    FINGERPRINT_SCHEMA,
)
SCHEMA_VERSION = len(MIGRATIONS)


#: How the HNSW index of a space holds its vectors (chosen when the space is created):
#: float32 copies, or float16 / 8-bit codes (faiss scalar quantizers) whose candidates are
#: re-scored from the full-precision vectors in SQLite. Bytes per vector in the index, and
#: recall measured: bench/RESULTS.md §21.
ANN_KINDS = ("hnsw", "hnsw-fp16", "hnsw-sq8")


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a space is made of: the encoder that made its vectors, their size and metric,
    and how its HNSW index holds them (``ANN_KINDS``)."""

    encoder: str
    dim: int
    metric: str
    normalized: bool
    ann: str = "hnsw"


@dataclass(frozen=True, slots=True)
class Changes:
    """Rows added after ``max_rowid`` and rows deleted after a data version."""

    version: int
    rowids: np.ndarray  # int64, ascending
    vectors: np.ndarray  # float32 (len(rowids), dim)
    deleted: np.ndarray  # int64
    #: The token of data ``version`` (``version_token``), read in the same transaction.
    token: str | None = None


def connect(path: Path) -> sqlite3.Connection:
    """Open an existing space database; raises ``SpaceNotFound``, ``CorruptSpace`` or a
    ``StorageError``. A space that cannot be written here (a read-only disk or folder, or no
    write permission) opens read-only: it can be searched, and writes raise
    ``ReadOnlySpace``."""
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
        if _storage_problem(error) is not None:
            raise storage_error(error, path) from None
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
    if version < SCHEMA_VERSION and not is_read_only(connection):
        migrate(connection)
    return connection


def is_read_only(connection: sqlite3.Connection) -> bool:
    """Whether this connection was opened read-only (the space cannot be written here)."""
    return bool(connection.execute("PRAGMA query_only").fetchone()[0])


#: How the keyword index cuts text: words (folded, stemmed), or every 3 characters.
KEYWORD_INDEXES = {
    "porter": "porter unicode61 remove_diacritics 2",
    "trigram": "trigram",  # substrings: codes, partial words (terms of 3+ characters)
}


def initialise(
    path: Path, stamp: Stamp, software_version: str, keyword_index: str = "porter"
) -> None:
    """Create the database in ``path`` (an empty folder) with its schema and stamp, and
    its keyword index of the kind ``keyword_index`` (``KEYWORD_INDEXES``)."""
    connection = _open(path / DATABASE_FILE)
    try:
        migrate(connection)
        with transaction(connection):
            if keyword_index != "porter":  # the triggers name the table: they stay
                connection.execute("DROP TABLE items_fts")
                try:
                    connection.execute(
                        "CREATE VIRTUAL TABLE items_fts USING fts5(content, content='items', "
                        f"content_rowid='rowid', tokenize='{KEYWORD_INDEXES[keyword_index]}')"
                    )
                except sqlite3.OperationalError as error:
                    raise EmbedspaceError(
                        f"This Python's SQLite ({sqlite3.sqlite_version}) cannot make a "
                        f"{keyword_index} keyword index ({error}); it needs SQLite 3.34 or "
                        "newer. Use the porter index, or a Python with a newer SQLite."
                    ) from None
            write_meta(
                connection,
                {
                    "encoder": stamp.encoder,
                    "dim": stamp.dim,
                    "metric": stamp.metric,
                    "normalized": stamp.normalized,
                    "ann": stamp.ann,
                    "data_version": 0,
                    "count": 0,
                    "created_by": f"embedspace {software_version}",
                    "keyword_index": keyword_index,
                    # kept from creation on: a space without the key is older than recipes
                    "recipes": [],
                },
            )
    finally:
        connection.close()


def _open(file: Path) -> sqlite3.Connection:
    """Open ``file`` for reading and writing, or read-only when this process may not write
    it (then writes fail with ``ReadOnlySpace`` instead of sqlite3's error)."""
    if not _writable(file):
        return _open_read_only(file)
    try:
        connection = sqlite3.connect(
            file, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
    except sqlite3.DatabaseError as error:
        if _storage_problem(error) is not None:
            raise storage_error(error, file.parent) from None
        raise CorruptSpace(f"{file} is not a space database ({error}).") from None
    connection.create_function(NUMBER_FUNCTION, 1, _sql_number, deterministic=True)
    return connection


def _writable(file: Path) -> bool:
    """Whether the database and its folder (for the ``-wal`` and ``-shm`` files) can be
    written by this process (``os.access`` also answers "no" on a read-only disk)."""
    writable_file = not file.exists() or os.access(file, os.W_OK)
    return writable_file and os.access(file.parent, os.W_OK)


def _open_read_only(file: Path) -> sqlite3.Connection:
    """A read-only connection. SQLite reads a WAL database read-only when its ``-shm`` file
    exists or can be made; on a read-only disk without one, the database is opened as
    immutable, which is only right when there is no write-ahead log to read (no ``-wal``
    file, or an empty one: the last writer closed cleanly)."""
    uri = "file:" + urllib.parse.quote(str(file.resolve())) + "?mode=ro"
    try:
        connection = sqlite3.connect(
            uri,
            uri=True,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError:
        wal = file.with_name(file.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise ReadOnlySpace(
                f"{file.parent} is on a read-only disk (or folder) and its last writes are "
                "still in the write-ahead log, which cannot be read without writing. Open it "
                "once where it can be written (or copy the folder there) to fold the log in."
            ) from None
        connection = sqlite3.connect(
            uri + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False
        )
    connection.execute("PRAGMA query_only = ON")
    connection.create_function(NUMBER_FUNCTION, 1, _sql_number, deterministic=True)
    return connection


#: sqlite3's messages for the disk refusing, and what they mean for a person.
_STORAGE_MESSAGES = {
    "database or disk is full": "full",
    "attempt to write a readonly database": "read-only",
    "unable to open database file": "unopenable",
    "disk i/o error": "failing",
}


def _storage_problem(error: BaseException) -> str | None:
    """What the disk did, if ``error`` is sqlite3's report of a disk refusing."""
    if not isinstance(error, sqlite3.Error):
        return None
    text = str(error).lower()
    return next((kind for message, kind in _STORAGE_MESSAGES.items() if message in text), None)


def storage_error(error: BaseException, folder: Path) -> EmbedspaceError:
    """The one error to raise for the disk refusing a space's database (``sqlite3`` or
    ``OSError``), naming what happened and what to do; nothing was written."""
    kind = _storage_problem(error)
    if isinstance(error, OSError):
        kind = {
            errno.ENOSPC: "full",
            errno.EDQUOT: "full",
            errno.EROFS: "read-only",
            errno.EACCES: "read-only",
            errno.EPERM: "read-only",
        }.get(error.errno or 0, "failing")
    if kind == "full":
        return StorageError(
            f"The disk holding {folder} is full; nothing was written (the write was rolled "
            "back). Free some space and run it again."
        )
    if kind == "read-only":
        return ReadOnlySpace(
            f"{folder} cannot be written here (a read-only disk or folder, or no write "
            "permission): it can be searched but not changed. Copy it to a folder you can "
            "write to, or fix the permissions."
        )
    if kind == "unopenable":
        return StorageError(
            f"Cannot open the database in {folder}: check that the folder exists and that "
            "you may read it (and write it, to change it)."
        )
    if isinstance(error, OSError):
        return StorageError(write_error(folder, error).message)  # as every other output says
    return StorageError(
        f"The disk failed while using {folder} ({error}); nothing was written. Check the "
        "disk, then run it again."
    )


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
    """Apply the migrations this database has not had yet, in one transaction."""
    try:
        with transaction(connection):
            current = connection.execute("PRAGMA user_version").fetchone()[0]
            for number in range(current, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[number]):
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.OperationalError as error:
        if "fts5" not in str(error) and "tokenizer" not in str(error):
            raise
        raise EmbedspaceError(
            f"This Python's SQLite ({sqlite3.sqlite_version}) lacks what the keyword index "
            f"needs ({error}): FTS5, and for trigram indexes SQLite 3.34 or newer. Use a "
            "Python built with a newer SQLite (python.org and most Linux builds have it)."
        ) from None


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of ``script`` (a trigger's body holds ``;`` of its own)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


def database_error(error: sqlite3.Error, folder: Path) -> EmbedspaceError | None:
    """The ``EmbedspaceError`` for an ``sqlite3`` error met while using the space in
    ``folder``: the disk refusing (``StorageError``), a damaged database
    (``CorruptSpace``), a lock held too long; ``None`` for anything else (a bug)."""
    if _storage_problem(error) is not None:
        return storage_error(error, folder)
    text = str(error).lower()
    if "locked" in text or "busy" in text:
        return StorageError(
            f"Another process kept {folder} locked for over {BUSY_TIMEOUT_SECONDS:.0f} s; "
            "nothing was written. Wait for it to finish, then run this again."
        )
    if not isinstance(error, sqlite3.DatabaseError) or isinstance(
        error, sqlite3.ProgrammingError | sqlite3.InterfaceError | sqlite3.IntegrityError
    ):
        return None
    return CorruptSpace(
        f"The database of {folder} is damaged ({error}). Restore the folder from a backup, "
        "or delete the space and index the data again."
    )


def guard_public_methods(cls: type) -> type:
    """Make every public method of ``cls`` (a class with a ``path``), also those it gets
    from a mixin, raise the typed ``EmbedspaceError`` for database errors
    (``database_error``) instead of ``sqlite3``'s: one place, so no method can let a raw
    ``sqlite3`` error through to a user."""
    seen: set[str] = set()
    for klass in cls.__mro__[:-1]:  # the class first, then its mixins; not object
        for name, member in list(vars(klass).items()):
            if name in seen:
                continue  # the class's own method overrides the mixin's
            seen.add(name)
            if inspect.isfunction(member) and (not name.startswith("_") or name in _DUNDERS):
                setattr(cls, name, _guarded(member))
    return cls


#: The special methods that read the database (``len(space)``, ``"id" in space``, ...).
_DUNDERS = ("__len__", "__contains__", "__iter__")


def _guarded(method: Any) -> Any:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            typed = database_error(error, Path(self.path))
            if typed is None:
                raise
            raise typed from None

    return call


@contextmanager
def transaction(connection: sqlite3.Connection, *, write: bool = True) -> Iterator[None]:
    """One transaction: ``BEGIN IMMEDIATE`` for writes (takes the write lock up front).

    On any error it rolls back if a transaction is still open (SQLite ends some itself, as
    on a full disk), never hiding the first error behind a failed ``ROLLBACK``; the disk
    refusing (full, read-only, failing) becomes a ``StorageError`` saying so."""
    try:
        connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield
        except BaseException:
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    except sqlite3.OperationalError as error:
        if connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
        if _storage_problem(error) is None:
            raise
        raise storage_error(error, Path(_database_folder(connection))) from None


def _database_folder(connection: sqlite3.Connection) -> str:
    """The folder of the connection's main database file (for messages)."""
    row = connection.execute("PRAGMA database_list").fetchone()
    return str(Path(row[2]).parent) if row and row[2] else "the space"


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
    ann = str(meta.get("ann", "hnsw"))  # spaces made before the setting: float32
    if ann not in ANN_KINDS:
        raise EmbedspaceError(
            f"This space has an HNSW index of kind '{ann}', which this version of embedspace "
            f"does not know ({', '.join(ANN_KINDS)}). Open it with the embedspace that made "
            "it, or upgrade."
        )
    return Stamp(
        str(meta["encoder"]), int(meta["dim"]), str(meta["metric"]), bool(meta["normalized"]), ann
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
        token = version_token(connection, current)
    rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vectors = vectors_from_blobs([r[1] for r in rows], dim)
    deleted_rowids = np.array([r[0] for r in deleted], dtype=np.int64)
    return Changes(current, rowids, vectors, deleted_rowids, token)


def vectors_from_blobs(blobs: list[bytes], dim: int) -> np.ndarray:
    """Stack float32 BLOBs into a ``(len(blobs), dim)`` array (one copy)."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)


def space_id(connection: sqlite3.Connection) -> str | None:
    """The space's id, made with it (``None``: a database from before space ids that could
    not be migrated here, as on a read-only disk)."""
    row = connection.execute("SELECT value FROM meta WHERE key = 'space_id'").fetchone()
    return str(json.loads(row[0])) if row else None


def version_token(connection: sqlite3.Connection, version: int) -> str | None:
    """The random token recorded by the write transaction that set data ``version``
    (``None`` if none was: a version from before tokens, or a database without them)."""
    try:
        row = connection.execute(
            "SELECT token FROM versions WHERE version = ?", (version,)
        ).fetchone()
    except sqlite3.OperationalError:  # no versions table: not migrated (read-only here)
        return None
    return str(row[0]) if row else None
