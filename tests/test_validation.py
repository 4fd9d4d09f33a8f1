"""Issue 12, point 2: bad input never escapes as a traceback, and bad data never gets in.

Each case the reliability campaign found, one test each: the call raises one
``EmbedspaceError`` subclass whose message says what to do, and the space is unchanged.
(Generated bad input: ``test_validation_properties.py``.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import embedspace as es
from embedspace.errors import DimensionMismatch, EmbedspaceError, InvalidInput
from embedspace.ops.ingest import BATCH, ingest
from tests.conftest import fail, run

SURROGATE = "bad \udc80 text"


@pytest.fixture
def space() -> es.Space:
    """A small cosine space of the fake encoder, with typed metadata."""
    space = es.Space.create("v", "fake")
    space.add(
        ["the cat sat", "a dog ran", "stock prices fell"],
        ids=["a", "b", "c"],
        metadata=[{"n": 1, "topic": "pets"}, {"n": 2, "topic": "pets"}, {"n": 3}],
    )
    return space


def contents(space: es.Space) -> list[tuple[str, str, str, bytes]]:
    """Everything a space holds: id, content, metadata and vector of each item."""
    rows = space._db.connection.execute(
        "SELECT id, content, metadata, vector FROM items ORDER BY rowid"
    )
    return [tuple(row) for row in rows]


def refused(
    space: es.Space, call: Callable[[], Any], kind: type[EmbedspaceError] = InvalidInput
) -> str:
    """Run ``call``: it must raise ``kind`` and change nothing; return the message."""
    before = contents(space)
    with pytest.raises(kind) as caught:
        call()
    assert contents(space) == before
    return str(caught.value)


# ------------------------------------------------------------- raw exceptions before
@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.add([SURROGATE]),
        lambda s: s.add(["fine"], ids=[SURROGATE]),
        lambda s: s.add(["fine"], metadata=[{"k": SURROGATE}]),
        lambda s: s.add(["fine"], metadata=[{SURROGATE: 1}]),
        lambda s: s.upsert(["fine"], metadata=[{"k": [{"deep": SURROGATE}]}]),
        lambda s: s.update_metadata({"a": {"k": SURROGATE}}),
        lambda s: s.delete([SURROGATE]),
        lambda s: s.get(SURROGATE),
        lambda s: s.get_many([SURROGATE]),
        lambda s: s.similar(SURROGATE),
        lambda s: s.search(SURROGATE),
        lambda s: s.search("cat", where={SURROGATE: 1}),
        lambda s: s.search("cat", where={"topic": SURROGATE}),
        lambda s: s.upsert([es.Record(SURROGATE, "text")]),
    ],
    ids=lambda _: "",
)
def test_lone_surrogates_are_refused(space: es.Space, call: Callable[[es.Space], Any]) -> None:
    message = refused(space, lambda: call(space))
    assert "lone surrogate" in message and "\\udc80" in message
    assert SURROGATE not in space  # asking is not an error, just False


def test_lone_surrogates_in_encode_and_similarity(fake: es.Encoder) -> None:
    with pytest.raises(InvalidInput, match="lone surrogate"):
        fake.encode([SURROGATE])
    with pytest.raises(InvalidInput, match="lone surrogate"):
        es.similarity(SURROGATE, "text", encoder=fake)


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ("not a mapping", "str, not a mapping"),
        ([("a", 1)], "list, not a mapping"),
        ({"a": 1, 2: 3}, "key that is not a string: 2"),
        ({2: 3}, "key that is not a string"),
        ({"a": {1: 2, "b": 3}}, "mixes key types"),
        ({"a": object()}, "not JSON-serialisable"),
        ({"a": float("nan")}, "NaN or infinity"),
        ({"a": [np.float32("inf")]}, "NaN or infinity"),
    ],
)
def test_metadata_must_be_a_json_mapping(space: es.Space, metadata: Any, words: str) -> None:
    assert words in refused(space, lambda: space.add(["new text"], metadata=[metadata]))
    assert words in refused(space, lambda: space.update_metadata({"a": metadata}))


def test_update_metadata_takes_a_mapping_of_mappings(space: es.Space) -> None:
    assert "mapping of id to new fields" in refused(
        space,
        lambda: space.update_metadata([("a", {})]),  # type: ignore[arg-type]
    )
    assert "int, not a mapping" in refused(
        space,
        lambda: space.update_metadata({"a": 5}),  # type: ignore[dict-item]
    )
    # a good update and a bad one in one call: nothing changes
    refused(space, lambda: space.update_metadata({"a": {"x": 1}, "b": {"x": float("nan")}}))


def test_nan_metadata_never_breaks_filtered_search(space: es.Space) -> None:
    """The campaign stored NaN with update_metadata; then every filtered search of the
    whole space failed with "malformed JSON"."""
    refused(space, lambda: space.update_metadata({"a": {"score": float("nan")}}))
    refused(space, lambda: space.update_metadata({"a": {"score": np.float64("inf")}}))
    assert [m.id for m in space.search("cat", where={"topic": "pets"})] == ["a", "b"]


def test_where_numbers_beyond_64_bits(space: es.Space) -> None:
    space.update_metadata({"c": {"big": 2**70}})
    assert [m.id for m in space.search("cat", where={"big": 2**70})] == ["c"]
    assert [m.id for m in space.search("cat", where={"big": {">": 2**64}})] == ["c"]
    assert [m.id for m in space.search("cat", where={"big": [2**70, 5]})] == ["c"]
    assert "±1.8e308" in refused(space, lambda: space.search("cat", where={"big": 10**400}))
    with pytest.raises(InvalidInput, match="1.8e308"):
        space.snapshot({"big": {"in": [1, -(10**400)]}})


def test_where_lists_of_any_length(space: es.Space) -> None:
    """300,000 values once failed with "too many SQL variables" (and 1,000 with
    "Expression tree is too large"): a list is one JSON parameter now."""
    numbers = list(range(4, 300_000)) + [2]
    assert [m.id for m in space.search("cat", where={"n": numbers})] == ["b"]
    words = [f"w{i}" for i in range(300_000)] + ["pets"]
    assert sorted(m.id for m in space.search("cat", where={"topic": {"in": words}})) == ["a", "b"]
    outside = space.search("cat", where={"topic": {"not in": words}})
    assert [m.id for m in outside] == ["c"]
    mixed = space.snapshot({"n": [None, True, 1, 3.0, "x", 2, float("inf")] * 1000})
    assert mixed.ids == ["a", "b", "c"]


@pytest.mark.parametrize(
    "vectors",
    ["abc", [["a"] * 64], np.ones((1, 64), dtype=bool), [[1.0] * 63 + [None]], [[1.0], [1.0, 2]]],
    ids=["string", "strings", "booleans", "None", "ragged"],
)
def test_vectors_must_be_numbers(space: es.Space, vectors: Any) -> None:
    message = refused(space, lambda: space.add(["new"], ids=["n"], vectors=vectors))
    assert "must be" in message


def test_query_vectors_must_be_numbers(space: es.Space) -> None:
    for query in (np.array(["a"] * 64), np.ones(64, dtype=bool), np.ones((2, 64))):
        with pytest.raises(InvalidInput):
            space.search(query)
    with pytest.raises(InvalidInput, match="all zeros"):
        space.search(np.zeros(64))


@pytest.mark.parametrize("k", [2.5, "5", None, True, 0, -1])
def test_k_must_be_a_whole_number_of_at_least_1(space: es.Space, k: Any) -> None:
    for call in (space.search, space.similar):
        target = "a" if call == space.similar else "cat"
        with pytest.raises(InvalidInput, match="k must be"):
            call(target, k=k)
    assert len(space.similar("a", k=np.int64(1))) == 1
    assert len(space.search("cat", k=10**30)) == 3  # more than there are: all of them


def test_space_names(home: Path) -> None:
    for name in ("a" * 300, "name\n", "\nname", "bad/../" + "b" * 300, "nul\0here/x"):
        with pytest.raises(InvalidInput, match="space"):
            es.Space.create(name, "fake")
    assert not home.exists() or not any(home.iterdir())
    es.Space.create("a" * 200, "fake").close()  # the longest name allowed


# ------------------------------------------------------------ accepted but wrong before
def test_huge_vector_values_are_normalised_not_zeroed(space: es.Space) -> None:
    space.add(["big"], ids=["big"], vectors=np.full((1, 64), 1e38, dtype=np.float32))
    stored = space.get("big")
    assert stored is not None
    np.testing.assert_allclose(stored.vector, np.full(64, 0.125), rtol=1e-6)
    assert space.search(np.full(64, 3e38, dtype=np.float32), k=1)[0].id == "big"
    tiny = np.full((1, 64), 1e-40, dtype=np.float32)
    space.add(["tiny"], ids=["tiny"], vectors=tiny)
    assert np.linalg.norm(space.vectors(["tiny"])[0]) == pytest.approx(1.0, rel=1e-5)


def test_non_finite_and_zero_vectors_are_refused(space: es.Space) -> None:
    for bad in (np.zeros((1, 64)), np.full((1, 64), np.nan), np.full((1, 64), 1e39)):
        refused(space, lambda bad=bad: space.add(["x"], ids=["x"], vectors=bad))
    record = es.Record("r", "text", vector=np.zeros(64, dtype=np.float32))
    assert "all zeros" in refused(space, lambda: space.upsert([record]))


def test_overflowing_vectors_are_refused_in_dot_spaces() -> None:
    space = es.Space.create("dots", "fake", metric="dot")
    space.add(["zero"], ids=["z"], vectors=np.zeros((1, 64)))  # a zero vector is fine here
    message = refused(space, lambda: space.add(["x"], vectors=np.full((1, 64), 1e37)))
    assert "Scale the vectors down" in message


def test_where_keys_with_quotes_and_backslashes_match(space: es.Space) -> None:
    keys = ['say "hi"', "back\\slash", "dot.ted", "tab\there", 'both\\"', "é"]
    space.update_metadata({"a": {key: 1 for key in keys}, "b": {key: "1" for key in keys}})
    for key in keys:
        assert [m.id for m in space.search("cat", where={key: 1})] == ["a", "b"], key
        assert [m.id for m in space.search("cat", where={key: {">=": 1}})] == ["a", "b"], key
        assert [m.id for m in space.search("cat", where={key: {"!=": 1}})] == ["c"], key
        assert [m.id for m in space.search("cat", where={key: [1, 2]})] == ["a", "b"], key
        assert space.snapshot({key: None}).ids == ["c"], key


def test_similar_k_0_raises_like_search(space: es.Space) -> None:
    with pytest.raises(InvalidInput, match="k must be at least 1, not 0"):
        space.similar("a", k=0)


def test_readers_refuse_ids_that_are_objects(tmp_path: Path) -> None:
    file = tmp_path / "ids.jsonl"
    rows = [
        {"id": {"x": 1}, "text": "a"},
        {"id": [1], "text": "b"},
        {"id": True, "text": "c"},
        {"id": 1.5, "text": "d"},
        {"id": 7, "text": "e", "vec": [1.0, 2.0]},
        {"id": "ok", "text": {"not": "text"}},
        {"id": "s", "text": "\udc80"},
        {"id": "v", "text": "f", "vec": [True, False]},
    ]
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    found = list(es.read_records(file, vector_field="vec"))
    reasons = [getattr(item, "reason", None) for item in found]
    assert [r is None for r in reasons] == [False] * 4 + [True] + [False] * 3
    assert "ids are strings or integers" in str(reasons[0])
    assert "not text" in str(reasons[5]) and "lone surrogate" in str(reasons[6])
    assert "true/false" in str(reasons[7])
    assert found[4].id == "7"  # type: ignore[union-attr]


def test_boolean_vectors_are_refused(space: es.Space) -> None:
    message = refused(space, lambda: space.add(["x"], vectors=np.ones((1, 64), dtype=bool)))
    assert "not booleans" in message
    with pytest.raises(InvalidInput, match="booleans"):
        es.similarity(np.array([True, False]), np.array([1.0, 0.0]))


def test_similarity_checks_vectors() -> None:
    with pytest.raises(InvalidInput):
        es.similarity(np.array(["a", "b"]), np.array([1.0, 2.0]))
    with pytest.raises(InvalidInput, match="shape"):
        es.similarity_matrix(np.ones((2, 2, 2)))
    with pytest.raises(InvalidInput, match="all zeros"):
        es.similarity(np.zeros(3), np.ones(3))
    assert es.similarity(np.full(3, 1e38), np.ones(3)) == pytest.approx(1.0)
    with pytest.raises(DimensionMismatch):
        es.similarity(np.ones(3), np.ones(4))


# ------------------------------------------------------------------ --vector-field
def _vectors_file(tmp_path: Path, count: int, bad_row: int | None, dim: int = 64) -> Path:
    rng = np.random.default_rng(0)
    file = tmp_path / "vectors.jsonl"
    with file.open("w") as out:
        for row in range(1, count + 1):
            size = 3 if row == bad_row else dim
            vector = rng.normal(size=size).round(4).tolist()
            out.write(json.dumps({"id": f"i{row}", "text": f"item {row}", "vec": vector}) + "\n")
    return file


def test_vector_field_checks_every_size_before_writing(tmp_path: Path, home: Path) -> None:
    """A wrong-size vector at row 1,401 once left the first 1,024 rows committed."""
    assert BATCH < 1401
    es.Space.create("kept", "fake").close()
    file = _vectors_file(tmp_path, 1500, bad_row=1401)
    with pytest.raises(DimensionMismatch, match="Item 'i1401' has 3 values per vector"):
        ingest("kept", [file], vector_field="vec")
    assert len(es.Space.open("kept")) == 0
    message = fail("index", "kept", str(file), "--vector-field", "vec")
    assert "3 values per vector" in message and "Nothing was written" in message
    assert len(es.Space.open("kept")) == 0


def test_vector_field_never_leaves_an_empty_new_space(tmp_path: Path, home: Path) -> None:
    file = _vectors_file(tmp_path, 20, bad_row=None, dim=3)  # all the wrong size
    message = fail("index", "fresh", str(file), "--vector-field", "vec", "--encoder", "fake")
    assert "3 values per vector" in message
    assert not es.Space.exists("fresh") and not (home / "fresh").exists()
    zeros = tmp_path / "zeros.jsonl"
    zeros.write_text(json.dumps({"id": "z", "text": "t", "vec": [0.0] * 64}) + "\n")
    assert "all zeros" in fail(
        "index", "fresh", str(zeros), "--vector-field", "vec", "--encoder", "fake"
    )
    assert not (home / "fresh").exists()
    good = _vectors_file(tmp_path, 30, bad_row=None)
    result = run("index", "fresh", str(good), "--vector-field", "vec", "--encoder", "fake")
    assert result.exit_code == 0, result.output
    assert len(es.Space.open("fresh")) == 30


def test_indexing_given_vectors_asks_no_recipe_and_warns_of_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An index run into an existing space refuses only what cannot be compared (another
    static table's vectors); vectors given by the caller into a space of a comparable
    encoder whose recipe differs here are written without a word about queries."""
    from embedspace.encoders import register
    from tests.conftest import RecipeEncoder

    register("fake", lambda: RecipeEncoder("int8-s8"))
    with es.Space.create(tmp_path / "s", encoder="fake") as space:
        space.add(["an old row"], ids=["old"])
    rows = tmp_path / "rows.jsonl"
    vector = [1.0] + [0.0] * 63
    rows.write_text(json.dumps({"id": "v", "text": "given", "vector": vector}) + "\n")
    register("fake", lambda: RecipeEncoder("int8-u8"))
    with caplog.at_level("WARNING", logger="embedspace"):
        report = ingest(tmp_path / "s", [rows], vector_field="vector")
    assert (report.added, report.embedded) == (1, 0)
    assert "recipe" not in caplog.text


def test_indexing_into_an_emptied_space_of_another_table_starts_it_again(tmp_path: Path) -> None:
    from embedspace.encoders import register
    from tests.conftest import TableEncoder

    register("fake", lambda: TableEncoder("table v2"))
    with es.Space.create(tmp_path / "s", encoder="fake") as space:
        space.add(["an old row"], ids=["old"])
        space.delete(["old"])
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "new", "text": "a new row"}) + "\n")
    register("fake", lambda: TableEncoder("table v3"))
    assert ingest(tmp_path / "s", [rows]).added == 1  # nothing of table v2 is left in it
    with es.Space.open(tmp_path / "s") as space:
        assert space.vector_recipes() == ["table v3"]
        assert space.search("a new row", 1)[0].id == "new"
