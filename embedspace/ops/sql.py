"""SQL on spaces, in process, with DuckDB: every space is a table by its name, and
embedspace's functions are SQL functions.

- A space named in a query becomes a table: ``id``, ``content``, one typed column per
  metadata field, ``vector FLOAT[dim]``. It is read from the space's SQLite file when a query
  first names it and kept (per session) until the space changes; its vectors are read only
  when the query can use them (it names ``vector`` or selects ``*``).
- ``embed(text [, encoder_or_space])`` → ``FLOAT[]``: a vectorised Arrow UDF, memoised by
  text; ``embed('food', 'news')`` embeds with the space ``news``'s encoder.
- ``cosine(a, b)``, ``dot(a, b)``, ``euclidean(a, b)``: macros over DuckDB's own list
  functions (no Python per row).
- ``search(space, query, k [, mode [, where]])``: a table macro over the space's own search
  (the function ``embedspace search`` calls), returning ``rank, id, score, content,
  metadata`` (JSON text). ``where`` is the Python filter form as JSON
  (``'{"price": {"<": 100}}'``): filtered before ranking, so it never loses recall, where a
  SQL ``WHERE`` on the results filters the top ``k`` after ranking.
  ``ORDER BY cosine(vector, embed(...))`` over a filtered table is exact.

DuckDB's Python API has no Python table functions; a table macro that unnests a list of
structs from a scalar UDF gives the same ``FROM search(...)`` syntax.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from embedspace.encoders import registry
from embedspace.encoders.base import Encoder
from embedspace.errors import EmbedspaceError, InvalidInput, MissingExtra, SpaceNotFound
from embedspace.ops.ingest import SOURCE_KEY
from embedspace.ops.rerank import search as search_space
from embedspace.store import Space, list_spaces
from embedspace.store.database import DATABASE_FILE

log = logging.getLogger("embedspace")
_MEMO_LIMIT = 10_000  # texts remembered per encoder by embed()
_LIST_LENGTHS = re.compile(r"dimensions must be equal|same size|different (lengths|sizes)", re.I)
_MACROS = """
CREATE MACRO embed(t) AS _es_embed(t, ''), (t, e) AS _es_embed(t, e);
CREATE MACRO cosine(a, b) AS list_cosine_similarity(a::FLOAT[], b::FLOAT[]);
CREATE MACRO dot(a, b) AS list_inner_product(a::FLOAT[], b::FLOAT[]);
CREATE MACRO euclidean(a, b) AS list_distance(a::FLOAT[], b::FLOAT[]);
CREATE MACRO search(s, q, k) AS TABLE (
    SELECT unnest(_es_search(s, q, k, 'dense', ''), recursive := true)
), (s, q, k, m) AS TABLE (
    SELECT unnest(_es_search(s, q, k, m, ''), recursive := true)
), (s, q, k, m, w) AS TABLE (
    SELECT unnest(_es_search(s, q, k, m, w), recursive := true)
);
"""


class SqlSession:
    """One DuckDB connection with the spaces of ``home`` (default ``$EMBEDSPACE_HOME``) as
    tables and embedspace's functions. Reuse one for many queries: spaces read once stay
    in memory until they change. Not for use by several threads at once."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home
        self._connection: Any = None
        self._spaces: dict[str, Space] = {}
        self._tables: dict[str, tuple[int, bool]] = {}  # name -> (data version, vectors)
        self._encoders: dict[str, Encoder] = {}
        self._memo: dict[tuple[str, str], np.ndarray] = {}
        self._failure: EmbedspaceError | None = None  # raised inside a UDF, re-raised as is
        self._lock = threading.Lock()

    def __enter__(self) -> SqlSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection and the spaces it opened."""
        for space in self._spaces.values():
            space.close()
        self._spaces.clear()
        self._tables.clear()  # a new connection has none of them
        self._encoders.clear()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def query(self, text: str) -> Any:
        """Run one SQL statement; its result as a ``pyarrow.Table``."""
        if not text.strip():
            raise InvalidInput("The SQL query is empty. Example: SELECT * FROM news LIMIT 5")
        with self._lock:
            connection = self._connect()
            self._failure = None
            try:
                self._register_spaces(connection, text)
                return connection.sql(text).to_arrow_table()
            except Exception as error:  # duckdb's errors share no base class with ours
                raise self._explain(error) from None

    def df(self, text: str) -> Any:
        """``query(text)`` as a pandas DataFrame."""
        return self.query(text).to_pandas()

    # ------------------------------------------------------------------ internals
    def _connect(self) -> Any:
        if self._connection is not None:
            return self._connection
        try:  # typed as Any: its stubs do not know the Arrow form of create_function
            duckdb: Any = importlib.import_module("duckdb")
        except ImportError:
            raise MissingExtra("SQL on spaces", "sql", "duckdb") from None
        connection = duckdb.connect(":memory:")
        float_list = duckdb.list_type(duckdb.sqltypes.FLOAT)
        varchar, integer = duckdb.sqltypes.VARCHAR, duckdb.sqltypes.INTEGER
        result = duckdb.list_type(
            duckdb.struct_type(
                {
                    "rank": integer,
                    "id": varchar,
                    "score": duckdb.sqltypes.DOUBLE,
                    "content": varchar,
                    "metadata": varchar,
                }
            )
        )
        connection.create_function(
            "_es_embed", self._guarded(self._embed), [varchar, varchar], float_list, type="arrow"
        )
        connection.create_function(
            "_es_search",
            self._guarded(self._search),
            [varchar, varchar, integer, varchar, varchar],
            result,
            type="arrow",
        )
        connection.execute(_MACROS)
        self._connection = connection
        return connection

    def _guarded(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` with our errors kept for ``query`` to raise with their own message
        (DuckDB would wrap them in its own text)."""

        @functools.wraps(function)  # DuckDB reads the arity from the signature
        def call(*columns: Any) -> Any:
            try:
                return function(*columns)
            except EmbedspaceError as error:
                self._failure = error
                raise
            except Exception as error:  # a bug or odd input (NULL k): one line, no frames
                log.info("Inside an SQL function", exc_info=True)
                self._failure = InvalidInput(
                    f"An embedspace SQL function failed: {type(error).__name__}: {error}. "
                    "Check its arguments (search(space, query, k [, mode [, where]]))."
                )
                raise

        return call

    def _location(self, name: str) -> str | Path | None:
        """Where the space ``name`` is (a folder of ``home``; with no ``home``, a bare name:
        ``$EMBEDSPACE_HOME``, or PostgreSQL when ``$EMBEDSPACE_STORE`` is set), or ``None``."""
        if name in self._spaces:
            return name
        if self.home is not None:
            path = self.home / name
            return path if (path / DATABASE_FILE).exists() else None
        try:
            return name if Space.exists(name) else None
        except EmbedspaceError:  # not a space name at all (a file, a DuckDB table)
            return None

    def _space(self, name: str) -> Space:
        if name not in self._spaces:
            location = self._location(name)
            if location is None:
                raise SpaceNotFound(f"No space named '{name}'. {self._known()}")
            self._spaces[name] = Space.open(location)
        return self._spaces[name]

    def _known(self) -> str:
        names = [str(info["name"]) for info in list_spaces(self.home)]
        return f"Spaces: {', '.join(names)}." if names else "There are no spaces yet."

    def _register_spaces(self, connection: Any, text: str) -> None:
        """Register (or refresh) each space the query names as a table."""
        names, vectors = _table_names(connection, text)
        for name in names:
            if self._location(name) is None:
                continue  # a table of DuckDB's, a CTE, a file: DuckDB resolves it
            space = self._space(name)
            version = space.data_version
            known = self._tables.get(name)
            if known is not None and known[0] == version and (known[1] or not vectors):
                continue
            connection.register(name, space_table(space, vectors=vectors))
            self._tables[name] = (version, vectors)

    def _encoder_for(self, name: str) -> Encoder:
        if name not in self._encoders:
            if name and self._location(name) is not None:
                space = self._space(name)
                space.check_queries()  # its vectors are what embed() results meet
                self._encoders[name] = space.encoder
            else:
                self._encoders[name] = registry.get(name or None)
            self._encoders[name].check_available()
        return self._encoders[name]

    def _embed(self, texts: Any, encoders: Any) -> Any:
        import pyarrow as pa

        rows: list[np.ndarray | None] = []
        for text, name in zip(texts.to_pylist(), encoders.to_pylist(), strict=True):
            if text is None:
                rows.append(None)
                continue
            key = (name or "", text)
            if key not in self._memo:
                if len(self._memo) >= _MEMO_LIMIT:
                    self._memo.clear()
                self._memo[key] = self._encoder_for(name or "").encode([text])[0]
            rows.append(self._memo[key])
        return pa.array([None if r is None else r.tolist() for r in rows], pa.list_(pa.float32()))

    def _search(self, spaces: Any, queries: Any, ks: Any, modes: Any, wheres: Any) -> Any:
        import pyarrow as pa

        out = []
        for name, query, k, mode, where in zip(
            spaces.to_pylist(),
            queries.to_pylist(),
            ks.to_pylist(),
            modes.to_pylist(),
            wheres.to_pylist(),
            strict=True,
        ):
            if name is None or query is None or k is None:
                raise InvalidInput("search() needs a space, a query and k (none may be NULL).")
            found = self._space(name)
            matches = search_space(found, query, int(k), mode=mode or "dense", where=_where(where))
            out.append(
                [
                    {
                        "rank": rank,
                        "id": m.id,
                        "score": m.score,
                        "content": m.content,
                        "metadata": json.dumps(m.metadata, ensure_ascii=False),
                    }
                    for rank, m in enumerate(matches, start=1)
                ]
            )
        return pa.array(out, _SEARCH_TYPE())

    def _explain(self, error: Exception) -> EmbedspaceError:
        if self._failure is not None:
            return self._failure
        if isinstance(error, EmbedspaceError):  # ours already says what to do
            return error
        message = " ".join(str(error).split())
        if _LIST_LENGTHS.search(message):
            return InvalidInput(
                "The two vectors have different lengths: the space's vectors were made by "
                "one encoder and the other by another. Embed with the space's encoder: "
                f"embed(text, 'SPACE'). ({message})"
            )
        if "does not exist" in message and "Table" in message:
            message += f" {self._known()}"
        return InvalidInput(f"SQL error: {message}")


def _SEARCH_TYPE() -> Any:  # noqa: N802 - a type, built when pyarrow is imported
    import pyarrow as pa

    return pa.list_(
        pa.struct(
            [
                ("rank", pa.int32()),
                ("id", pa.string()),
                ("score", pa.float64()),
                ("content", pa.string()),
                ("metadata", pa.string()),
            ]
        )
    )


def _where(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        where = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f'search()\'s fifth argument is a filter as JSON, e.g. \'{{"price": {{"<": 100}}}}\''
            f": {error}."
        ) from None
    if not isinstance(where, dict):
        raise InvalidInput('search()\'s filter must be a JSON object, e.g. \'{"topic": "food"}\'.')
    return where


def _table_names(connection: Any, text: str) -> tuple[set[str], bool]:
    """The table names a query refers to, from DuckDB's own parser (nothing is bound), and
    whether it may read vectors (it selects ``*`` or names a column ``vector``). DuckDB
    serialises SELECTs only: for other statements every word may be a table, with vectors."""
    serialized = connection.execute("SELECT json_serialize_sql(?)", [text]).fetchall()[0][0]
    tree = json.loads(serialized)
    if tree.get("error"):
        message = " ".join(str(tree.get("error_message")).split())
        if message.startswith("Only SELECT"):  # DESCRIBE, SHOW, COPY…: the words in it
            return set(re.findall(r"[A-Za-z0-9][\w.-]*", text)), True
        raise InvalidInput(f"SQL error: {message}")
    names: set[str] = set()
    vectors = False

    def walk(node: Any) -> None:
        nonlocal vectors
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("table_name"):
                names.add(str(node["table_name"]))
            columns = node.get("column_names") if node.get("class") == "COLUMN_REF" else None
            if node.get("class") == "STAR" or (columns and columns[-1].lower() == "vector"):
                vectors = True
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return names, vectors


def space_table(space: Space, *, vectors: bool = True) -> Any:
    """A space as a ``pyarrow.Table``: ``id``, ``content``, one column per metadata field
    (typed when every value of the field has one type, else JSON text), ``vector``."""
    import pyarrow as pa

    snapshot = space.snapshot()
    columns: dict[str, Any] = {
        "id": pa.array(snapshot.ids, pa.string()),
        "content": pa.array(snapshot.contents, pa.string()),
    }
    reserved = {"id", "content", "vector", SOURCE_KEY}  # the file an item came from: left out
    fields = sorted({key for m in snapshot.metadata for key in m} - reserved)
    for field in fields:
        values = [m.get(field) for m in snapshot.metadata]
        try:
            columns[field] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: keep them as JSON text
            columns[field] = pa.array(
                [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
            )
    if vectors:
        dim = space.stamp.dim
        flat = pa.array(np.ascontiguousarray(snapshot.vectors, dtype=np.float32).reshape(-1))
        columns["vector"] = pa.FixedSizeListArray.from_arrays(flat, dim)
    return pa.table(columns)


def sql(query: str, *, home: Path | None = None) -> Any:
    """Run one SQL query over the spaces of ``home`` (default ``$EMBEDSPACE_HOME``); the
    result as a ``pyarrow.Table`` (``.to_pandas()`` for pandas). For many queries keep a
    ``SqlSession``: it reads each space once."""
    with SqlSession(home) as session:
        return session.query(query)
