"""Connecting to PostgreSQL for spaces kept there (``store.postgres``): the connection
(pgvector's types registered, the shared schema set up), and the small helpers both the
writes and the searches use."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np

from embedspace.errors import InvalidInput, MissingExtra, SpaceNotFound, StorageError
from embedspace.io.passages import DOCUMENT_KEY

#: The ``_document`` field of a passage, as SQL: written out (not a parameter), so that the
#: expression index on it (``postgres.create_at``) answers every query that uses it.
DOCUMENT = f"(metadata ->> '{DOCUMENT_KEY}')"
#: pgvector's operator class of each metric (for the HNSW index)
OPERATOR_CLASSES = {
    "cosine": "vector_cosine_ops",
    "dot": "vector_ip_ops",
    "euclidean": "vector_l2_ops",
}
_SETUP_LOCK = 0x656D6265  # an advisory lock key of embedspace's: concurrent first uses wait
_SETUP = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS embedspace_spaces (
    name text PRIMARY KEY,
    items text NOT NULL UNIQUE,
    encoder text NOT NULL,
    dim integer NOT NULL,
    metric text NOT NULL,
    normalized boolean NOT NULL,
    data_version bigint NOT NULL DEFAULT 0,
    recipes jsonb NOT NULL DEFAULT '[]',
    created_by text,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION embedspace_number(t text) RETURNS float8
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF t ~ '^\\s*[+-]?(?:(?:0|[1-9][0-9]*)(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?\\s*$' THEN
        RETURN trim(t)::float8;
    END IF;
    RETURN NULL;
EXCEPTION WHEN numeric_value_out_of_range THEN
    RETURN CASE WHEN trim(t) LIKE '-%' THEN '-Infinity'::float8 ELSE 'Infinity'::float8 END;
END $$;
"""


def psycopg_module() -> Any:
    try:
        import psycopg
    except ImportError:
        raise MissingExtra("PostgreSQL spaces", "postgres", "psycopg") from None
    return psycopg


def connect(url: str) -> Any:
    psycopg = psycopg_module()
    from pgvector.psycopg import register_vector

    try:
        connection = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as error:
        raise StorageError(
            f"Cannot connect to PostgreSQL at {safe_url(url)}: {first_line(error)}. Check that "
            "the server runs and the URL (user, host, port, database) is right."
        ) from None
    try:
        ready = connection.execute(
            "SELECT to_regclass('embedspace_spaces') IS NOT NULL "
            "AND to_regprocedure('embedspace_number(text)') IS NOT NULL"
        ).fetchone()[0]
        if not ready:  # first use of this database: one connection at a time sets it up
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
                connection.execute(_SETUP)
    except psycopg.Error as error:
        connection.close()
        raise StorageError(
            f"PostgreSQL at {safe_url(url)} cannot hold spaces: {first_line(error)}. The "
            "pgvector extension must be installed on the server (CREATE EXTENSION vector)."
        ) from None
    register_vector(connection)
    return connection


def as_is(text: Any) -> str:
    """``text`` unchanged: psycopg's JSON ``dumps`` for text that is JSON already."""
    return str(text)


def safe_url(url: str) -> str:
    """The URL without its password (``user:secret@``, also with ``@`` in the password,
    and ``password=`` parameters)."""
    scheme, sep, rest = url.partition("://")
    address, slash, tail = rest.partition("/")
    if "@" in address:
        credentials, _, host = address.rpartition("@")
        if ":" in credentials:
            credentials = credentials.split(":", 1)[0] + ":***"
        address = f"{credentials}@{host}"
    masked = scheme + sep + address + slash + tail
    return re.sub(r"(password=)[^&]*", r"\1***", masked, flags=re.IGNORECASE)


def first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def as_array(value: Any) -> np.ndarray:
    """A pgvector value as float32 numpy (psycopg hands back ``Vector`` objects)."""
    found = value.to_numpy() if hasattr(value, "to_numpy") else value
    return np.asarray(found, dtype=np.float32)


def table_name(name: str) -> str:
    return "es_" + hashlib.sha256(name.encode()).hexdigest()[:20]


def check_name(name: str) -> None:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}", name):
        raise InvalidInput(
            f"{name!r} is not a valid space name: use up to 200 letters, digits, '-', '_' and "
            "'.', starting with a letter or digit."
        )


def space_exists(url: str, name: str) -> bool:
    """Whether the database at ``url`` holds a space ``name``."""
    connection = connect(url)
    try:
        row = connection.execute(
            "SELECT 1 FROM embedspace_spaces WHERE name = %s", (name,)
        ).fetchone()
    finally:
        connection.close()
    return row is not None


def space_names(url: str) -> list[str]:
    """The names of the spaces in the database at ``url``."""
    connection = connect(url)
    try:
        return [
            r[0] for r in connection.execute("SELECT name FROM embedspace_spaces ORDER BY name")
        ]
    finally:
        connection.close()


def drop_space(url: str, name: str) -> None:
    """Drop the space ``name`` (its table and its row) in one transaction."""
    connection = connect(url)
    try:
        with connection.transaction():
            row = connection.execute(
                "DELETE FROM embedspace_spaces WHERE name = %s RETURNING items", (name,)
            ).fetchone()
            if row is None:
                raise SpaceNotFound(f"No space '{name}' in {safe_url(url)}.")
            connection.execute(f"DROP TABLE {row[0]}")
    finally:
        connection.close()
