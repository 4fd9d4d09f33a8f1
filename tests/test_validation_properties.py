"""Property-based tests (hypothesis) of issue 12, point 2: the public API, given generated
input (mostly bad: lone surrogates, NaN, huge numbers, wrong types and shapes), either does
what it says or raises an ``EmbedspaceError`` with nothing written. No other exception ever
escapes, and what is accepted leaves the space healthy (finite vectors, valid JSON metadata
that filters can read).

Settings are small (tens of examples each, the fake hashing encoder) so the file runs in
seconds; ``test_store_stateful.py`` checks a space against a plain-Python model."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import embedspace as es
from embedspace.errors import EmbedspaceError
from tests.conftest import CountingEncoder

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DIM = 64

# ------------------------------------------------------------------------ strategies
#: Any text, lone surrogates and control characters included.
wild_text = st.text(st.characters(exclude_categories=()), max_size=8)
surrogate_text = st.builds(
    lambda a, s, b: a + s + b, wild_text, st.sampled_from(["\udc80", "\ud800", "\udfff"]), wild_text
)
odd_numbers = st.sampled_from(
    [2**63, -(2**63) - 1, 2**70, 10**400, -(10**400), 1e308, -0.0, 5e-324]
) | st.floats(allow_nan=True, allow_infinity=True)
numpy_scalars = st.sampled_from(
    [np.float32("nan"), np.float64("inf"), np.int64(3), np.bool_(True), np.float16(1.5)]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | odd_numbers
    | wild_text
    | st.binary(max_size=3)
    | numpy_scalars
    | st.builds(object)
    | st.complex_numbers(max_magnitude=2)
)
keys = wild_text | st.integers(-2, 2) | st.booleans() | st.none() | st.just((1, 2))
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(keys, inner, max_size=3)
        | st.sets(st.integers(), max_size=2)
    ),
    max_leaves=6,
)
metadata = st.dictionaries(keys, values, max_size=3) | values
ids = st.lists(wild_text | st.integers() | st.none() | st.binary(max_size=2), max_size=3)
ks = st.integers(-3, 3) | st.integers() | st.floats() | st.sampled_from(["5", None, True, 2.5])
dtypes = st.sampled_from(["float32", "float64", "int8", "bool", "complex64", "U2", "float16"])
vectors = (
    hnp.arrays(
        dtypes,
        st.tuples(st.integers(0, 2), st.sampled_from([DIM - 1, DIM, DIM + 1])),
        elements=None,
    )
    | st.lists(st.lists(st.floats() | st.integers() | st.none(), max_size=3), max_size=2)
    | st.sampled_from(["abc", b"xy", 3.5, None])
)
where_values = values | st.dictionaries(
    st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in", "~", 3]),
    values,
    max_size=2,
)
wheres = st.dictionaries(keys, where_values, max_size=3) | values


# --------------------------------------------------------------------------- helpers
@pytest.fixture
def space(home: Path) -> es.Space:
    """A cosine space of the fake encoder holding four items with typed metadata."""
    space = es.Space.create(home / "props", CountingEncoder(), ann_threshold=20)
    space.add(
        ["the cat sat", "a dog ran", "stock prices fell", "rain in spain"],
        ids=["a", "b", "c", "d"],
        metadata=[{"n": 1, "topic": "pets"}, {"n": 2.5}, {"topic": "money"}, {}],
    )
    return space


def state(space: es.Space) -> list[Any]:
    """Everything a space holds (items and the data version)."""
    connection = space._db.connection
    rows = connection.execute("SELECT id, content, metadata, vector FROM items ORDER BY rowid")
    version = connection.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
    return [version, *(tuple(r) for r in rows)]


def clean(space: es.Space, call: Callable[[], Any]) -> bool:
    """Run ``call``: it succeeds (True, and the space stays healthy) or raises an
    ``EmbedspaceError`` having changed nothing (False). Any other exception fails."""
    before = state(space)
    try:
        call()
    except EmbedspaceError as error:
        assert str(error).strip(), "an error must say what went wrong"
        assert state(space) == before, f"{type(error).__name__} but the space changed"
        return False
    healthy(space)
    return True


def healthy(space: es.Space) -> None:
    """What is stored can be read back and searched: finite unit (or encoder-made zero)
    vectors, metadata that is valid JSON for SQLite, filters that run."""
    connection = space._db.connection
    (invalid,) = connection.execute(
        "SELECT count(*) FROM items WHERE NOT json_valid(metadata)"
    ).fetchone()
    assert invalid == 0
    stored = space.vectors()
    assert np.isfinite(stored).all()
    norms = np.linalg.norm(stored, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-3) | (norms == 0))
    space.snapshot({"n": {">": 0}, "topic": ["pets", None]})
    for item_id in space.ids():
        item = space.get(item_id)
        assert item is not None and isinstance(item.metadata, dict)


def texts_with_one_bad() -> st.SearchStrategy[list[Any]]:
    """A list of good texts with one certainly bad item in it."""
    good = st.lists(st.sampled_from(["cats", "dogs", "a tree", "rain"]), max_size=3)
    bad = surrogate_text | st.sampled_from(["", "   ", None, 3, b"bytes", ["x"]])
    return st.builds(lambda g, b, i: [*g[:i], b, *g[i:]], good, bad, st.integers(0, 3))


# ------------------------------------------------------------------ any input: clean
@SETTINGS
@given(
    texts=st.lists(wild_text | st.sampled_from(["cat", "dog"]) | st.none(), max_size=3) | wild_text,
    item_ids=st.none() | ids,
    metas=st.none() | st.lists(metadata, max_size=3) | metadata,
    vecs=st.none() | vectors,
    replace=st.booleans(),
)
def test_writes_are_clean(
    space: es.Space, texts: Any, item_ids: Any, metas: Any, vecs: Any, replace: bool
) -> None:
    write = space.upsert if replace else space.add
    clean(space, lambda: write(texts, ids=item_ids, metadata=metas, vectors=vecs))


@SETTINGS
@given(
    records=st.lists(
        st.builds(
            es.Record,
            id=wild_text | st.integers() | st.none(),
            content=wild_text | st.none() | st.integers(),
            metadata=metadata,
            vector=st.none() | vectors,
            modality=st.sampled_from(["text", "text", "image", "audio"]),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_record_writes_are_clean(space: es.Space, records: list[es.Record]) -> None:
    clean(space, lambda: space.upsert(records))


@SETTINGS
@given(updates=st.dictionaries(wild_text | st.sampled_from(["a", "b"]), metadata) | values)
def test_update_metadata_is_clean(space: es.Space, updates: Any) -> None:
    clean(space, lambda: space.update_metadata(updates))


@SETTINGS
@given(item_ids=ids | values)
def test_deletes_and_reads_are_clean(space: es.Space, item_ids: Any) -> None:
    before = state(space)
    for call in (lambda: space.get_many(item_ids), lambda: space.vectors(item_ids)):
        clean(space, call)
    assert state(space) == before
    for item_id in item_ids if isinstance(item_ids, list) else [item_ids]:
        clean(space, lambda item_id=item_id: space.get(item_id))
        assert isinstance(item_id in space, bool)
    clean(space, lambda: space.delete(item_ids))


@SETTINGS
@given(
    query=wild_text | vectors | st.sampled_from(["cat", "a dog"]),
    k=ks,
    where=st.none() | wheres,
    exact=st.booleans(),
)
def test_searches_are_clean(space: es.Space, query: Any, k: Any, where: Any, exact: bool) -> None:
    before = state(space)
    clean(space, lambda: space.search(query, k=k, where=where, exact=exact))
    clean(space, lambda: space.snapshot(where))
    for item_id in ("a", query if isinstance(query, str) else "zz"):
        clean(space, lambda item_id=item_id: space.similar(item_id, k=k, where=where))
    assert state(space) == before


@SETTINGS
@given(name=wild_text | st.sampled_from(["ok-name", "x" * 201, "a" * 300, "n\n"]))
def test_space_names_are_clean(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)  # a name with a path separator is a path from here
    home.mkdir(exist_ok=True)
    before = sorted(os.listdir(home)), sorted(os.listdir(tmp_path))
    try:
        created = es.Space.create(name, CountingEncoder())
    except EmbedspaceError:
        assert (sorted(os.listdir(home)), sorted(os.listdir(tmp_path))) == before
        return
    if not any(mark in name for mark in "/\\~"):
        assert created.path.parent == home  # a bare name never escapes the home folder
    created.close()
    es.delete_space(created.path)


@SETTINGS
@given(a=wild_text | vectors, b=wild_text | vectors, metric=st.sampled_from(["cosine", "dot", "x"]))
def test_similarity_is_clean(a: Any, b: Any, metric: str) -> None:
    try:
        score = es.similarity(a, b, metric=metric, encoder=CountingEncoder())
    except EmbedspaceError:
        return
    assert np.isfinite(score)


@SETTINGS
@given(items=st.lists(wild_text | st.none() | st.integers(), max_size=3) | wild_text)
def test_encode_is_clean(fake: CountingEncoder, items: Any) -> None:
    try:
        vectors = fake.encode(items)
    except EmbedspaceError:
        return
    assert vectors.shape == (len(items), fake.dim) and np.isfinite(vectors).all()


# ------------------------------------------------------- bad input: typed, unwritten
@SETTINGS
@given(texts=texts_with_one_bad(), replace=st.booleans())
def test_a_bad_text_writes_nothing(space: es.Space, texts: list[Any], replace: bool) -> None:
    write = space.upsert if replace else space.add
    assert not clean(space, lambda: write(texts))


@SETTINGS
@given(
    bad=st.sampled_from(
        [
            {"x": float("nan")},
            {"x": [float("-inf")]},
            {"x": {"y": np.float32("nan")}},
            {1: "int key"},
            {"x": "\udc80"},
            {"\ud800": 1},
            {"x": object()},
            {"x": {1: 1, "a": 2}},
            "not a mapping",
            [("x", 1)],
        ]
    ),
    position=st.integers(0, 1),
)
def test_bad_metadata_writes_nothing(space: es.Space, bad: Any, position: int) -> None:
    metas: list[Any] = [{"fine": 1}, {"fine": 2}]
    metas[position] = bad
    assert not clean(space, lambda: space.upsert(["one text", "another"], metadata=metas))
    updates = {"a": {"fine": 3}, "b": bad}
    assert not clean(space, lambda: space.update_metadata(updates))


@SETTINGS
@given(
    bad=st.sampled_from(
        [np.zeros(DIM), np.full(DIM, np.nan), np.full(DIM, 1e39), np.ones(DIM, dtype=bool)]
    )
    | hnp.arrays("float32", st.sampled_from([DIM - 1, DIM + 1, 1])),
    position=st.integers(0, 1),
)
def test_bad_vectors_write_nothing(space: es.Space, bad: np.ndarray, position: int) -> None:
    rows: list[Any] = [np.ones(DIM), np.arange(DIM, dtype=float) + 1]
    rows[position] = bad
    records = [
        es.Record(f"v{i}", f"text {i}", vector=np.asarray(row)) for i, row in enumerate(rows)
    ]
    assert not clean(space, lambda: space.upsert(records))
    if bad.shape == (DIM,):
        assert not clean(space, lambda: space.search(bad))


@SETTINGS
@given(k=st.integers(max_value=0) | st.floats() | st.sampled_from(["5", None, True, [1]]))
def test_bad_k_is_refused(space: es.Space, k: Any) -> None:
    assert not clean(space, lambda: space.search("cat", k=k))
    assert not clean(space, lambda: space.similar("a", k=k))
