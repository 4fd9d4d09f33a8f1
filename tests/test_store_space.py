from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace.errors import (
    CorruptSpace,
    DimensionMismatch,
    EncoderMismatch,
    InvalidInput,
    SpaceExists,
    SpaceNotFound,
)
from tests.conftest import CountingEncoder

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
