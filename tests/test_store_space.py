from __future__ import annotations

import datetime
import logging
from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace.errors import (
    CorruptSpace,
    DimensionMismatch,
    EncoderMismatch,
    InvalidInput,
    SpaceClosed,
    SpaceExists,
    SpaceNotFound,
)
from tests.conftest import CountingEncoder, RecipeEncoder

TEXTS = [
    "the cat sat on the mat",
    "a dog barked at the cat",
    "stock prices fell sharply",
    "bond yields rose",
    "the kitten slept",
]
META = [{"kind": "pet"}, {"kind": "pet"}, {"kind": "money"}, {"kind": "money"}, {"kind": "pet"}]


def _space(tmp_path: Path, encoder: object = "fake", **kw: object) -> es.Space:
    space = es.Space.create(tmp_path / "s", encoder=encoder, **kw)  # type: ignore[arg-type]
    space.add(TEXTS, ids=[f"t{i}" for i in range(5)], metadata=META)
    return space


def test_bare_names_live_in_embedspace_home(home: Path) -> None:
    space = es.Space.create("news", encoder="fake")
    assert space.path == home / "news"
    assert es.Space.open("news").stamp.encoder == "fake"
    assert [s["name"] for s in es.list_spaces()] == ["news"]
    with pytest.raises(InvalidInput, match="not a valid space name"):
        es.Space.create("bad name!", encoder="fake")


def test_create_refuses_an_existing_space_and_open_a_missing_one(tmp_path: Path) -> None:
    _space(tmp_path)
    with pytest.raises(SpaceExists, match="already exists"):
        es.Space.create(tmp_path / "s", encoder="fake")
    with pytest.raises(SpaceNotFound, match="No space at"):
        es.Space.open(tmp_path / "nothing")
    with pytest.raises(InvalidInput, match="Unknown metric"):
        es.Space.create(tmp_path / "m", encoder="fake", metric="manhattan")


def test_add_get_len_and_search(tmp_path: Path) -> None:
    space = _space(tmp_path)
    assert len(space) == 5
    item = space.get("t0")
    assert item is not None and item.content == TEXTS[0] and item.metadata == {"kind": "pet"}
    assert item.vector.shape == (64,)
    assert space.get("nope") is None
    matches = space.search("cat on a mat", k=2)
    assert [m.id for m in matches][0] == "t0"
    assert matches[0].score >= matches[1].score
    assert isinstance(matches[0], es.Match) and matches[0].content == TEXTS[0]


def test_scores_agree_with_similarity(tmp_path: Path) -> None:
    space = _space(tmp_path)
    (best,) = space.search("stock prices", k=1)
    assert best.score == pytest.approx(
        es.similarity("stock prices", best.content, encoder="fake"), abs=1e-5
    )


def test_add_is_all_or_nothing(tmp_path: Path) -> None:
    space = _space(tmp_path)
    with pytest.raises(InvalidInput, match="already in space"):
        space.add(["new one", "dup"], ids=["n1", "t1"])
    assert len(space) == 5 and space.get("n1") is None
    with pytest.raises(InvalidInput, match="repeat within one call"):
        space.add(["a", "b"], ids=["x", "x"])
    with pytest.raises(InvalidInput, match="not one string"):
        space.add("a string")
    with pytest.raises(InvalidInput, match="empty"):
        space.add(["fine", ""])
    with pytest.raises(InvalidInput, match="same length"):
        space.add(["a", "b"], ids=["only-one"])
    assert len(space) == 5


def test_unchanged_text_is_never_embedded_twice(tmp_path: Path) -> None:
    counting = CountingEncoder()
    space = es.Space.create(tmp_path / "c", encoder=counting)
    space.upsert(["alpha", "beta"], ids=["a", "b"])
    assert sorted(counting.calls) == ["alpha", "beta"]
    result = space.upsert(["alpha", "beta changed", "alpha"], ids=["a", "b", "copy-of-a"])
    assert (result.added, result.updated, result.unchanged, result.embedded) == (1, 1, 1, 1)
    assert sorted(counting.calls) == [
        "alpha",
        "beta",
        "beta changed",
    ]  # the copy reused alpha's vector
    np.testing.assert_array_equal(space.vectors(["a"]), space.vectors(["copy-of-a"]))
    meta_only = space.upsert(["alpha"], ids=["a"], metadata=[{"tag": 1}])
    assert (meta_only.updated, meta_only.embedded) == (1, 0)
    assert space.get("a").metadata == {"tag": 1}  # type: ignore[union-attr]


def test_upsert_replaces_and_search_sees_it(tmp_path: Path) -> None:
    space = _space(tmp_path)
    space.upsert(["bond yields rose"], ids=["t0"])
    top = space.search("bond yields", k=2)
    assert {m.id for m in top} == {"t0", "t3"}
    assert len(space) == 5


def test_delete(tmp_path: Path) -> None:
    space = _space(tmp_path)
    assert space.delete(["t0", "missing"]) == 1
    assert len(space) == 4 and space.get("t0") is None
    assert "t0" not in [m.id for m in space.search("cat on the mat", k=5)]
    assert space.delete(["missing"]) == 0


def test_where_filters_on_metadata(tmp_path: Path) -> None:
    space = _space(tmp_path)
    assert {m.id for m in space.search("cat", k=10, where={"kind": "money"})} == {"t2", "t3"}
    assert {m.id for m in space.search("cat", k=10, where={"kind": ["money", "pet"]})} == {
        f"t{i}" for i in range(5)
    }
    assert space.search("cat", where={"kind": "none"}) == []
    with pytest.raises(InvalidInput, match="filter values"):
        space.search("cat", where={"kind": [{"nested": 1}]})
    with pytest.raises(InvalidInput, match="Unknown operator 'nested'.*==, !=, <"):
        space.search("cat", where={"kind": {"nested": 1}})


def test_similar_excludes_the_item(tmp_path: Path) -> None:
    space = _space(tmp_path)
    similar = space.similar("t0", k=2)
    assert "t0" not in [m.id for m in similar] and len(similar) == 2
    with pytest.raises(InvalidInput, match="No item 'zz'"):
        space.similar("zz")


def test_the_encoder_stamp_is_enforced(tmp_path: Path) -> None:
    _space(tmp_path).close()
    with pytest.raises(EncoderMismatch, match="built with encoder 'fake'"):
        es.Space.open(tmp_path / "s", encoder="hashing")
    space = es.Space.open(tmp_path / "s")
    with pytest.raises(DimensionMismatch, match="256 values per vector.*64-d"):
        space.add(["x"], vectors=np.ones((1, 256)))
    with pytest.raises(DimensionMismatch):
        space.search(np.ones(10))
    assert len(space) == 5


def test_given_vectors_and_vector_queries(tmp_path: Path) -> None:
    space = es.Space.create(tmp_path / "v", encoder="fake", metric="euclidean")
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 64)).astype(np.float32)
    space.add([f"item {i}" for i in range(20)], ids=[str(i) for i in range(20)], vectors=vectors)
    top = space.search(vectors[7] + 0.01, k=3)
    assert top[0].id == "7"
    assert top[0].score == pytest.approx(-float(np.linalg.norm(np.full(64, 0.01))), rel=1e-3)
    np.testing.assert_allclose(space.vectors(["7"])[0], vectors[7])
    with pytest.raises(InvalidInput, match="finite"):
        space.add(["nan"], ids=["n"], vectors=np.full((1, 64), np.nan))


def test_dot_metric_keeps_raw_vectors(tmp_path: Path) -> None:
    space = es.Space.create(tmp_path / "d", encoder="fake", metric="dot")
    space.add(["a", "b"], ids=["a", "b"], vectors=np.vstack([np.ones(64), 2 * np.ones(64)]))
    top = space.search(np.ones(64), k=2)
    assert [m.id for m in top] == ["b", "a"] and top[0].score == pytest.approx(128.0)


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "space.db").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(CorruptSpace, match="not a"):
        es.Space.open(folder)


def test_delete_space_refuses_other_folders(tmp_path: Path) -> None:
    _space(tmp_path).close()
    (tmp_path / "other").mkdir()
    with pytest.raises(InvalidInput, match="not a space"):
        es.delete_space(tmp_path / "other")
    es.delete_space(tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_list_spaces_reports_a_broken_space_without_hiding_the_others(home: Path) -> None:
    es.Space.create("good", encoder="fake").close()
    (home / "bad").mkdir()
    (home / "bad" / "space.db").write_bytes(b"garbage" * 200)
    listed = {s["name"]: s for s in es.list_spaces()}
    assert listed["good"]["count"] == 0
    assert "not a" in listed["bad"]["error"]


# ---------------------------------------------------------------- where filters
SHOP = [
    ("laptop", {"price": 999.0, "topic": "tech", "in_stock": True, "added": "2024-03-01"}),
    ("headphones", {"price": 249.5, "topic": "tech", "in_stock": False, "added": "2024-01-15"}),
    ("coffee beans", {"price": 12, "topic": "food", "in_stock": True, "added": "2023-12-24"}),
    ("olive oil", {"price": 24.99, "topic": "food", "added": "2024-02-02"}),
    ("gift card", {"topic": "other"}),
]


def _shop(tmp_path: Path, *, as_text: bool = False) -> es.Space:
    """Five items; ``as_text``: every value stored as a string, as CSV imports used to."""
    space = es.Space.create(tmp_path / "shop", encoder="fake")
    metadata = [{k: str(v) for k, v in meta.items()} if as_text else meta for _, meta in SHOP]
    space.add([text for text, _ in SHOP], ids=[text for text, _ in SHOP], metadata=metadata)
    return space


def _ids(space: es.Space, where: dict[str, object]) -> set[str]:
    return {m.id for m in space.search("anything", k=10, where=where)}


def test_typed_metadata_is_stored_typed(tmp_path: Path) -> None:
    space = _shop(tmp_path)
    assert space.get("headphones").metadata == SHOP[1][1]  # type: ignore[union-attr]
    space.add(["numpy"], ids=["np"], metadata=[{"n": np.int64(3), "x": np.float32(0.5)}])
    stored = space.get("np").metadata  # type: ignore[union-attr]
    assert stored == {"n": 3, "x": 0.5} and isinstance(stored["n"], int)
    with pytest.raises(InvalidInput, match="metadata of item 'bad' cannot be stored"):
        space.add(["nan"], ids=["bad"], metadata=[{"price": float("nan")}])


@pytest.mark.parametrize("as_text", [False, True], ids=["typed", "numbers-as-text"])
def test_where_compares_numbers_numerically(tmp_path: Path, as_text: bool) -> None:
    space = _shop(tmp_path, as_text=as_text)
    assert _ids(space, {"price": 249.5}) == {"headphones"}  # "249.5" or 249.5
    assert _ids(space, {"price": {"<": 300}}) == {"headphones", "coffee beans", "olive oil"}
    assert _ids(space, {"price": {">=": 24.99, "<=": 249.5}}) == {"headphones", "olive oil"}
    assert _ids(space, {"price": {">": 12}}) == {"laptop", "headphones", "olive oil"}
    assert _ids(space, {"price": [12, 999]}) == {"coffee beans", "laptop"}
    assert _ids(space, {"price": {"in": [12.0, 24.99]}}) == {"coffee beans", "olive oil"}
    assert _ids(space, {"topic": {"not in": ["tech", "food"]}}) == {"gift card"}
    assert _ids(space, {"in_stock": {"not in": [True]}}) == {"headphones", "olive oil", "gift card"}
    # != keeps items without the field; strings order as strings (ISO dates).
    assert _ids(space, {"topic": {"!=": "tech"}}) == {"coffee beans", "olive oil", "gift card"}
    assert _ids(space, {"price": {"!=": 12}}) == {"laptop", "headphones", "olive oil", "gift card"}
    assert _ids(space, {"added": {">=": "2024-02-01"}}) == {"laptop", "olive oil"}
    assert _ids(space, {"in_stock": True}) == {"laptop", "coffee beans"}
    assert _ids(space, {"in_stock": None}) == {"olive oil", "gift card"}
    assert _ids(space, {"in_stock": {"!=": None}, "topic": "tech"}) == {"laptop", "headphones"}


def test_a_number_written_differently_in_text_matches(tmp_path: Path) -> None:
    space = es.Space.create(tmp_path / "csv", encoder="fake")
    space.add(
        ["a", "b", "c"],
        ids=["a", "b", "c"],
        metadata=[{"price": "249.50"}, {"price": "cheap"}, {"zip": "02139"}],
    )
    assert _ids(space, {"price": 249.5}) == {"a"}
    assert _ids(space, {"price": {"<": 1000}}) == {"a"}  # "cheap" is not a number
    assert _ids(space, {"zip": "02139"}) == {"c"} and _ids(space, {"zip": 2139}) == set()


def test_where_warns_about_a_field_no_item_has(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    space = _shop(tmp_path)
    with caplog.at_level("WARNING", logger="embedspace"):
        assert _ids(space, {"Price": {"<": 300}}) == set()
        assert len(space.snapshot({"colour": "red"})) == 0
    assert "No item in space 'shop' has the metadata field 'Price'. Did you mean 'price'?" in (
        caplog.text
    )
    assert "'colour'" in caplog.text and "Fields in this space: added, in_stock, price" in (
        caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="embedspace"):
        _ids(space, {"price": {"<": 1}, "in_stock": None})  # real fields: nothing to say
        _ids(space, {"Price": {"<": 300}})  # said once already, nothing changed since
    assert caplog.text == ""
    with caplog.at_level("WARNING", logger="embedspace"):
        _ids(space, {"colr": None})  # only asked to be missing: not looked for, not said
        _ids(space, {"colr": "red"})  # looked for now: said
    assert caplog.text.count("'colr'") == 1
    space.add(["one more"], ids=["d"], metadata=[{"price": 5}])
    with caplog.at_level("WARNING", logger="embedspace"):
        _ids(space, {"Price": {"<": 300}})  # the data changed: checked (and said) again
    assert "'Price'" in caplog.text


def test_where_values_never_reach_sql_as_text(tmp_path: Path) -> None:
    space = _shop(tmp_path)
    sneaky = "x') OR 1=1 OR ('"
    assert _ids(space, {sneaky: "y"}) == set()
    assert _ids(space, {"topic": sneaky}) == set()
    assert _ids(space, {"topic": {">": "z' OR '1'='1"}}) == set()
    assert len(space) == 5


def test_where_operators_are_checked(tmp_path: Path) -> None:
    space = _shop(tmp_path)
    with pytest.raises(
        InvalidInput, match=r"where\['price'\] < null: < compares numbers or strings, not"
    ):
        _ids(space, {"price": {"<": None}})
    with pytest.raises(InvalidInput, match=r"< compares numbers or strings, not this"):
        _ids(space, {"price": {"<": datetime.date(2024, 1, 1)}})  # said, not a TypeError
    with pytest.raises(InvalidInput, match="'in' takes a list"):
        _ids(space, {"topic": {"in": "food"}})
    with pytest.raises(InvalidInput, match="NaN"):
        _ids(space, {"price": float("nan")})


# ---------------------------------------------------------------- the Python API
def test_get_takes_one_id_and_get_many_a_list(tmp_path: Path) -> None:
    space = _space(tmp_path)
    with pytest.raises(InvalidInput, match=r"get takes one id .* use get_many\(\[\.\.\.\]\)"):
        space.get(["t0", "t1"])  # type: ignore[arg-type]
    items = space.get_many(["t3", "t0"])
    assert [i.id for i in items] == ["t3", "t0"] and items[1].content == TEXTS[0]
    with pytest.raises(InvalidInput, match="Not in space 's': nope"):
        space.get_many(["t0", "nope"])


def test_a_space_reads_like_a_mapping_of_ids(tmp_path: Path) -> None:
    space = _space(tmp_path)
    assert "t2" in space and "nope" not in space and 3 not in space  # type: ignore[operator]
    assert list(space) == [f"t{i}" for i in range(5)] == space.ids()
    assert [space.get(i).content for i in space] == TEXTS  # type: ignore[union-attr]


def test_use_after_close_says_the_space_is_closed(tmp_path: Path) -> None:
    space = _space(tmp_path)
    space.close()
    space.close()  # twice is fine
    for use in (
        lambda: space.get("t0"),
        lambda: space.search("cat"),
        lambda: space.add(["more"]),
        lambda: len(space),
        lambda: "t0" in space,
        lambda: list(space),
        space.info,
    ):
        with pytest.raises(SpaceClosed, match=r"Space 's' is closed\. Open it again with Space"):
            use()
    assert repr(space) == f"<Space 's' at {tmp_path / 's'} (closed)>"
    with es.Space.open(tmp_path / "s") as reopened:
        assert len(reopened) == 5
    with pytest.raises(SpaceClosed):
        reopened.search("cat")


def test_reprs_are_short(tmp_path: Path) -> None:
    space = _space(tmp_path)
    assert repr(space) == f"<Space 's': 5 items, fake (64-d, cosine), at {tmp_path / 's'}>"
    item = space.get("t0")
    assert repr(item) == (
        "Item(id='t0', content='the cat sat on the mat', metadata={'kind': 'pet'}, "
        "vector=float32[64])"
    )
    assert repr(space.snapshot()) == "Snapshot(5 items, vectors=float32[5, 64])"


def test_a_space_records_the_recipe_and_warns_when_queries_run_another(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    space = es.Space.create(tmp_path / "s", encoder=RecipeEncoder("int8-s8"))
    space.add(["a cat", "a dog"], ids=["1", "2"])
    space.add(["a cat"], ids=["3"])  # the cached vector: nothing embedded, nothing recorded
    assert space.info()["recipes"] == ["int8-s8"]
    with caplog.at_level(logging.WARNING, logger="embedspace"):
        space.search("cat")
    assert not caplog.records  # same recipe: nothing to say
    space.close()

    elsewhere = es.Space.open(tmp_path / "s", encoder=RecipeEncoder("int8-u8"))
    with caplog.at_level(logging.WARNING, logger="embedspace"):
        elsewhere.search("cat")
        elsewhere.search("dog")
    (warning,) = caplog.records  # once per space object
    assert "made by fake with the int8-s8 recipe; queries here run int8-u8" in warning.message
    elsewhere.add(["a bird"], ids=["4"])
    assert elsewhere.info()["recipes"] == ["int8-s8", "int8-u8"]
    elsewhere.close()


def test_a_vector_embedded_inside_the_write_records_its_recipe_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upsert that found an item unchanged, then saw it deleted by another writer once
    inside its transaction, embeds it there: that vector's recipe is recorded too."""
    space = es.Space.create(tmp_path / "s", encoder=RecipeEncoder("int8-u8"))
    space.add(["a cat"], ids=["1"], vectors=np.ones((1, space.stamp.dim), np.float32))
    assert space.info()["recipes"] == []  # given vectors: no recipe made them
    writer = space._writer
    real_lookup = writer.lookup
    calls = []

    def stale_then_real(ids: list[str]) -> dict[str, tuple[int, str, str]]:
        calls.append(ids)
        found = real_lookup(ids)
        if len(calls) == 1:  # before the transaction: unchanged, nothing to embed
            return found
        # Meanwhile another writer deleted it (its row, as seen inside this transaction).
        space._db.connection.execute("DELETE FROM items WHERE id = ?", ("1",))
        return real_lookup(ids)

    monkeypatch.setattr(writer, "lookup", stale_then_real)
    result = space.upsert(["a cat"], ids=["1"])
    monkeypatch.undo()
    assert len(calls) == 2 and result.added == 1
    assert space.info()["recipes"] == ["int8-u8"]
    assert space.get("1") is not None
    space.close()
