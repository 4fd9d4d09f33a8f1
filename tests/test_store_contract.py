"""One contract, two backends: every test here runs on a SQLite space and on a PostgreSQL +
pgvector space (a real server: tests/pg_server.py, or the one .ci/run starts)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import embedspace as es
from embedspace.ops.items import remove_items
from embedspace.store.database import Stamp
from tests.conftest import RecipeEncoder, TableEncoder, fail, run

Make = Callable[..., es.Space]


@pytest.fixture(params=["sqlite", "postgres"])
def make(request: pytest.FixtureRequest) -> Iterator[Make]:
    """``make(encoder="fake", metric="cosine")``: a new empty space of the backend."""
    made: list[tuple[str, str]] = []
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""

    def create(encoder: Any = "fake", metric: str = "cosine", **options: Any) -> es.Space:
        name = f"t-{uuid.uuid4().hex[:10]}"
        if not url:
            return es.Space.create(name, encoder, metric, **options)
        made.append((url, name))
        return es.Space.create(url, encoder, metric, name=name, **options)

    yield create
    from embedspace.store.pg_connection import drop_space

    for where in made:
        drop_space(*where)


TEXTS = ["a cat sat on the mat", "dogs chase cats", "stock prices fell", "the market rallied"]
IDS = ["a", "b", "c", "d"]


def _filled(make: Make) -> es.Space:
    space = make()
    space.add(TEXTS, ids=IDS, metadata=[{"topic": "pets"}, {"topic": "pets"}, {}, {"topic": "x"}])
    return space


def test_add_get_and_the_mapping_of_ids(make: Make) -> None:
    with _filled(make) as space:
        assert len(space) == 4 and space.ids() == IDS and list(space) == IDS
        assert "a" in space and "z" not in space and 3 not in space
        item = space.get("b")
        assert item is not None and item.content == "dogs chase cats"
        assert item.metadata == {"topic": "pets"} and item.vector.shape == (64,)
        assert [i.id for i in space.get_many(["d", "a"])] == ["d", "a"]
        with pytest.raises(es.InvalidInput, match="Not in space.*zz"):
            space.get_many(["d", "zz"])
        assert space.get("zz") is None
        np.testing.assert_allclose(np.linalg.norm(space.vectors(["a", "c"]), axis=1), 1, 1e-5)


def test_a_call_that_fails_writes_nothing(make: Make) -> None:
    with _filled(make) as space:
        version = space.data_version
        with pytest.raises(es.InvalidInput, match="already in space"):
            space.add(["new", "also new"], ids=["e", "a"])
        assert len(space) == 4 and "e" not in space and space.data_version == version


def test_unchanged_content_is_not_embedded_again(make: Make) -> None:
    with _filled(make) as space:
        result = space.upsert(
            [TEXTS[0], "brand new"], ids=["a", "e"], metadata=[{"topic": "pets"}, {}]
        )
        assert (result.added, result.updated, result.unchanged, result.embedded) == (1, 0, 1, 1)
        again = space.upsert([TEXTS[1]], ids=["copy-of-b"])  # same text, new id: from the cache
        assert (again.added, again.embedded) == (1, 0)
        np.testing.assert_allclose(space.get("copy-of-b").vector, space.get("b").vector)
        moved = space.upsert(["the market rallied hard"], ids=["d"])
        assert (moved.updated, moved.embedded) == (1, 1)


def test_dense_search_ranks_exactly_and_scores_by_the_metric(make: Make) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 64)).astype(np.float32)
    for metric in ("cosine", "dot", "euclidean"):
        with make(metric=metric) as space:
            space.add(
                [f"item {i}" for i in range(300)], ids=[str(i) for i in range(300)], vectors=vectors
            )
            query = rng.normal(size=64).astype(np.float32)
            stored = space.vectors()
            if metric == "euclidean":
                scores = -np.linalg.norm(stored - query, axis=1)
            else:
                q = query / np.linalg.norm(query) if metric == "cosine" else query
                scores = stored @ q
            expected = np.argsort(-scores, kind="stable")[:10]
            found = space.search(query, 10, exact=True)
            assert [m.id for m in found] == [str(i) for i in expected], metric
            np.testing.assert_allclose(
                [m.score for m in found], scores[expected], rtol=1e-4, atol=1e-4
            )
            by_index = [m.id for m in space.search(query, 10)]
            assert len(set(by_index) & set(found_id.id for found_id in found)) >= 9  # HNSW


WHERE_CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({"topic": "food"}, ["m1", "m3"]),
    ({"topic": {"!=": "food"}}, ["m2", "m4", "m5"]),  # also items without the field
    ({"price": {"<": 10}}, ["m1", "m2"]),  # "9.5" stored as text reads as a number
    ({"price": {">=": 10, "<=": 20}}, ["m3"]),
    ({"price": [3, 20]}, ["m2", "m3"]),
    ({"topic": {"not in": ["food", "toys"]}}, ["m5"]),
    ({"topic": None}, ["m5"]),
    ({"fresh": True}, ["m1", "m4"]),  # JSON true and the text "TRUE"
    ({"name": {">": "b"}}, ["m2", "m3"]),  # strings in byte order
]


@pytest.mark.parametrize(("where", "expected"), WHERE_CASES)
def test_where_filters_mean_the_same_on_every_backend(
    make: Make, where: dict[str, Any], expected: list[str]
) -> None:
    metadata = [
        {"topic": "food", "price": "9.5", "fresh": True, "name": "apple"},
        {"topic": "toys", "price": 3, "name": "ball"},
        {"topic": "food", "price": 20, "fresh": False, "name": "cake"},
        {"topic": "toys", "fresh": "TRUE", "name": "Zebra"},
        {"name": "Apple"},
    ]
    with make() as space:
        space.add(
            [f"thing {i}" for i in range(5)], ids=[f"m{i + 1}" for i in range(5)], metadata=metadata
        )
        assert sorted(space.snapshot(where).ids) == expected
        assert sorted(m.id for m in space.search("thing", 5, where=where)) == expected


def test_a_selective_filter_keeps_its_recall(make: Make) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(2000, 64)).astype(np.float32)
    with make() as space:
        space.add(
            [f"row {i}" for i in range(2000)],
            ids=[str(i) for i in range(2000)],
            metadata=[{"group": i % 100} for i in range(2000)],
            vectors=vectors,
        )
        query = rng.normal(size=64).astype(np.float32)
        found = space.search(query, 10, where={"group": 7})
        members = [i for i in range(2000) if i % 100 == 7]
        unit = vectors[members] / np.linalg.norm(vectors[members], axis=1, keepdims=True)
        best = [str(members[i]) for i in np.argsort(-(unit @ query))[:10]]
        assert [m.id for m in found] == best


def test_an_hnsw_index_above_the_threshold_and_filters_through_it(make: Make) -> None:
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(3000, 64)).astype(np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    with make(ann_threshold=500) as space:
        ids = [str(i) for i in range(3000)]
        for start in range(0, 3000, 1000):  # the index is built once the space reaches 500
            space.add(
                ids[start : start + 1000],
                ids=ids[start : start + 1000],
                metadata=[{"group": i % 10} for i in range(start, start + 1000)],
                vectors=vectors[start : start + 1000],
            )
        space.optimize()
        recall = []
        for query in rng.normal(size=(20, 64)).astype(np.float32):
            q = query / np.linalg.norm(query)
            best = {str(i) for i in np.argsort(-(unit @ q))[:10]}
            recall.append(len(best & {m.id for m in space.search(query, 10)}) / 10)
            odd = [1, 3, 5, 7, 9]  # 1,500 items, over the threshold: through the index
            members = np.flatnonzero(np.arange(3000) % 2 == 1)
            wanted = {str(members[i]) for i in np.argsort(-(unit[members] @ q))[:10]}
            found = space.search(query, 10, where={"group": {"in": odd}})
            assert len(found) == 10 and all(m.metadata["group"] in odd for m in found)
            recall.append(len(wanted & {m.id for m in found}) / 10)
        assert np.mean(recall) >= 0.95, np.mean(recall)


def test_keyword_and_hybrid_search(make: Make) -> None:
    with _filled(make) as space:
        assert [m.id for m in space.search("prices", 3, mode="keyword")] == ["c"]
        assert space.search("zzzz qqqq", 3, mode="keyword") == []
        assert "c" in [m.id for m in space.search("prices", 4, mode="hybrid")]
        others = space.search("cats", 4, mode="keyword", where={"topic": {"!=": "pets"}})
        assert others == []  # "cat" and "cats" (one stem) are in the pets items only
        pets = space.search("cats", 4, mode="keyword", where={"topic": "pets"})
        assert sorted(m.id for m in pets) == ["a", "b"]
        with pytest.raises(es.InvalidInput):
            space.search(np.zeros(64, dtype=np.float32), 3, mode="keyword")


def test_similar_leaves_the_item_out(make: Make) -> None:
    with _filled(make) as space:
        found = space.similar("a", 3)
        assert "a" not in [m.id for m in found] and len(found) == 3
        with pytest.raises(es.InvalidInput, match="No item 'zz'"):
            space.similar("zz")


def test_delete_update_metadata_and_the_data_version(make: Make) -> None:
    with _filled(make) as space:
        version = space.data_version
        assert space.delete(["a", "zz"]) == 1 and space.data_version == version + 1
        assert space.delete(["zz"]) == 0 and space.data_version == version + 1
        assert space.update_metadata({"b": {"price": 3}}) == 1
        assert space.get("b").metadata == {"topic": "pets", "price": 3}
        with pytest.raises(es.InvalidInput, match="nothing was changed"):
            space.update_metadata({"b": {"x": 1}, "nope": {"x": 2}})
        assert "x" not in space.get("b").metadata


def test_passages_are_replaced_and_deleted_with_their_document(make: Make) -> None:
    with make() as space:
        parts = [
            es.Record(f"doc#{i}", f"part {i} of a long text", {"_document": "doc"})
            for i in range(3)
        ]
        space.upsert(parts, replacing=["doc"])
        result = space.upsert(parts[:1], replacing=["doc"])
        assert result.removed == 2 and space.ids() == ["doc#0"]
        found = space.search("part", 5)
        assert [m.id for m in found] == ["doc"]  # one document, by its best passage
        space.add(["plain"], ids=["plain"])
        assert space.documents_among(["doc", "doc#0", "plain", "nope"]) == {"doc"}
        removal = remove_items(space, ["doc", "nope"], missing_ok=True)  # the id searches give
        assert (removal.removed, removal.missing) == (1, ["nope"]) and space.ids() == ["plain"]


def test_the_stamp_and_the_encoder_are_enforced(make: Make, postgres_url: str) -> None:
    with _filled(make) as space:
        assert space.stamp.encoder == "fake" and space.stamp.dim == 64
        name = space.name
        info = space.info()
        assert info["count"] == 4 and info["encoder"] == "fake"
    where: dict[str, Any] = {"name": name} if "store" in info else {}
    location = postgres_url if where else name
    with pytest.raises(es.EncoderMismatch):
        es.Space.open(location, encoder="hashing", **where)
    with pytest.raises(es.SpaceExists):
        es.Space.create(location, "fake", **where)
    with es.Space.open(location, **where) as again:
        assert again.search("cat", 1)[0].id == "a"
    again_closed = es.Space.open(location, **where)
    again_closed.close()
    with pytest.raises(es.SpaceClosed):
        len(again_closed)


def test_a_space_of_vectors_from_elsewhere(make: Make) -> None:
    with make(encoder=Stamp("my-model", 3, "cosine", True)) as space:
        space.add(["x", "y"], ids=["x", "y"], vectors=np.array([[1, 0, 0], [0, 1, 0]], np.float32))
        assert space.search(np.array([0.9, 0.1, 0], np.float32), 1)[0].id == "x"


def test_the_command_line_and_the_multitool_on_postgres(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("EMBEDSPACE_STORE", "")  # unset after the test, though --store sets it
    name = f"cli-{uuid.uuid4().hex[:8]}"
    rows = tmp_path / "rows.csv"
    texts = [
        "cats purr",
        "cats purr!",
        "dogs bark",
        "stocks fell",
        "markets crashed",
        "kittens nap",
    ]
    rows.write_text(
        "id,text,topic\n" + "".join(f"r{i},{t},t{i % 2}\n" for i, t in enumerate(texts))
    )
    store = ["--store", postgres_url]
    indexed = run(
        *store, "index", name, str(rows), "--text-field", "text", "--encoder", "fake", "--json"
    )
    assert json.loads(indexed.output)["added"] == 6
    found = [
        json.loads(line)
        for line in run(*store, "search", name, "cats", "--json").output.splitlines()
    ]
    assert found[0]["id"] in ("r0", "r1")
    assert "r0" in run(*store, "items", name, "--where", "topic=t0").output
    assert name in run(*store, "spaces").output
    assert run(*store, "dedup", name, "--threshold", "0.9", "--json").exit_code == 0
    assert run(*store, "cluster", name, "-k", "2", "--json").exit_code == 0
    assert run(*store, "outliers", name, "--json").exit_code == 0
    again = run(*store, "index", name, str(rows), "--text-field", "text", "--json")
    assert json.loads(again.output)["unchanged"] == 6
    assert "No space" in fail(*store, "search", "no-such-space", "cats")
    counted = run(
        *store, "sql", f"SELECT count(*) AS n FROM \"{name}\" WHERE topic = 't0'", "--json"
    )
    assert json.loads(counted.output) == {"n": 3}  # SQL reads PostgreSQL spaces too
    by_sql = run(*store, "sql", f"SELECT id FROM search('{name}', 'cats', 2)", "--json").output
    assert [json.loads(line)["id"] for line in by_sql.splitlines()] == [f["id"] for f in found[:2]]
    local = tmp_path / f"copy-{name}"  # from PostgreSQL to a SQLite space, and back
    assert "Wrote 6 items" in run(*store, "export", name, "--to", str(local)).output
    monkeypatch.delenv("EMBEDSPACE_STORE")
    assert "Wrote 6 items" in run("export", str(local), "--to", postgres_url).output
    copied = es.Space.open(local)
    back = es.Space.open(postgres_url, name=local.name)
    original = es.Space.open(postgres_url, name=name)
    with copied, back, original:
        assert copied.ids() == back.ids() == original.ids()
        np.testing.assert_allclose(back.vectors(), original.vectors(), atol=1e-6)
        assert back.search("cats", 2)[0].id == original.search("cats", 2)[0].id
    run(*store, "delete", name, "--yes")
    run(*store, "delete", local.name, "--yes")
    assert name not in run(*store, "spaces").output


def test_many_writers_take_turns_and_lose_nothing(make: Make) -> None:
    space = make()
    url = getattr(space, "url", None)  # a PostgreSQL space's database
    location: dict[str, Any] = {"name": space.name} if url else {}
    target = url or space.path
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            with es.Space.open(target, **location) as mine:  # a connection of its own
                for batch in range(5):
                    ids = [f"w{worker}-{batch}-{i}" for i in range(20)]
                    mine.add([f"text {i} of {worker}/{batch}" for i in range(20)], ids=ids)
        except Exception as error:  # reported below
            errors.append(error)

    import threading

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with space:
        assert errors == [] and len(space) == 4 * 5 * 20
        assert space.data_version == 4 * 5


def test_first_uses_of_a_new_database_at_once(postgres_url: str) -> None:
    import threading

    import psycopg

    database = f"race_{uuid.uuid4().hex[:8]}"
    admin = postgres_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {database}")
    url = postgres_url.rsplit("/", 1)[0] + "/" + database
    errors: list[Exception] = []

    def create(number: int) -> None:
        try:
            es.Space.create(url, "fake", name=f"s{number}").close()
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        from embedspace.store.pg_connection import space_names

        assert errors == [] and space_names(url) == [f"s{n}" for n in range(6)]
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE {database} WITH (FORCE)")


def test_queries_that_run_another_recipe_than_the_stored_vectors_are_warned_about(
    make: Make, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    space = make(encoder=RecipeEncoder("int8-rows"))
    space.add(TEXTS, ids=IDS)
    name, store = space.info()["name"], space.info().get("store", "sqlite")
    space.close()
    if store == "postgresql":
        url = request.getfixturevalue("postgres_url")
        elsewhere = es.Space.open(url, name=name, encoder=RecipeEncoder("int8-u8"))
    else:
        elsewhere = es.Space.open(name, encoder=RecipeEncoder("int8-u8"))
    with elsewhere, caplog.at_level(logging.WARNING, logger="embedspace"):
        elsewhere.search("a cat")
        elsewhere.search("stocks")
    (warning,) = caplog.records  # once per space object
    assert "with the int8-rows recipe; queries here run int8-u8" in warning.message


def test_vectors_of_another_table_are_refused_not_mixed(
    make: Make, request: pytest.FixtureRequest
) -> None:
    """A space of one table (a static encoder's version) refuses queries and writes of
    another table, with what to do; vectors given by the caller and the same table still
    work. A SQLite space made before spaces kept recipes counts as the encoder's
    ``unrecorded_recipe``."""
    space = make(encoder=TableEncoder("table v1"))
    space.add(TEXTS, ids=IDS)
    name, store = space.info()["name"], space.info().get("store", "sqlite")
    if store == "sqlite":  # as a space made before recipes were kept: no such meta key
        space._db.connection.execute("DELETE FROM meta WHERE key = 'recipes'")  # type: ignore[attr-defined]
        assert space.vector_recipes() == ["table v1"]  # TableEncoder's unrecorded_recipe
    space.close()
    url = request.getfixturevalue("postgres_url") if store == "postgresql" else ""

    def reopen(recipe: str) -> es.Space:
        if url:
            return es.Space.open(url, name=name, encoder=TableEncoder(recipe))
        return es.Space.open(name, encoder=TableEncoder(recipe))

    with reopen("table v2") as newer:
        encoder = newer.encoder
        assert isinstance(encoder, TableEncoder)
        with pytest.raises(es.EncoderMismatch, match="made with table v1; .* makes table v2"):
            newer.search("a cat")
        with pytest.raises(es.EncoderMismatch, match="Index the texts again into a new space"):
            newer.search("a cat")  # every time, not once
        with pytest.raises(es.EncoderMismatch, match="cannot be compared"):
            newer.add(["a new text"], ids=["e"])
        assert encoder.calls == ["a cat", "a cat"]  # the refused write embedded nothing
        assert len(newer) == 4 and "e" not in newer
        vector = newer.get("a").vector  # type: ignore[union-attr]
        assert newer.search(vector, k=1)[0].id == "a"
        from embedspace.ops.classify import classify_space

        with pytest.raises(es.EncoderMismatch, match="cannot be compared"):
            classify_space(newer, ["pets", "money"])  # labels meet the stored vectors too
    with reopen("table v1") as same:
        assert same.search("a cat", k=1)[0].id == "a"
        same.add(["a new text"], ids=["e"])
        assert len(same) == 5 and same.vector_recipes() == ["table v1"]
    with reopen("table v2") as newer, pytest.raises(es.EncoderMismatch, match="table v1"):
        newer.search("a cat")


def test_table_checks_hold_for_embedded_queries_copies_given_vectors_and_emptied_spaces(
    make: Make, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    """The server embeds a text itself (``embedded=``): still refused. A copy carries the
    recipes, so its later-table queries are refused too. Vectors given by the caller make
    no old space. An emptied space starts its recipes again."""
    from embedspace.ops.export import copy_space

    space = make(encoder=TableEncoder("table v2"))
    space.add(TEXTS, ids=IDS)
    name, store = space.info()["name"], space.info().get("store", "sqlite")
    url = request.getfixturevalue("postgres_url") if store == "postgresql" else ""
    assert space.vector_recipes() == ["table v2"]
    copied = tmp_path / "copy"
    copy_space(space, copied)
    space.close()

    def reopen(where: Any, recipe: str, **options: Any) -> es.Space:
        if url and where == name:
            return es.Space.open(url, name=name, encoder=TableEncoder(recipe), **options)
        return es.Space.open(where, encoder=TableEncoder(recipe), **options)

    with reopen(name, "table v3") as newer:
        vector = newer.encoder.encode_query(["a cat"])
        with pytest.raises(es.EncoderMismatch, match="cannot be compared"):
            newer.search("a cat", embedded=vector)
    with reopen(copied, "table v3") as copy:
        assert copy.vector_recipes() == ["table v2"]
        with pytest.raises(es.EncoderMismatch, match="made with table v2"):
            copy.search("a cat")
    with reopen(name, "table v2") as same:
        same.delete(IDS)
    with reopen(name, "table v3") as emptied:
        emptied.add(["a new text"], ids=["e"])  # nothing left to mix with
        assert emptied.vector_recipes() == ["table v3"]
        assert emptied.search("a new text", k=1)[0].id == "e"
    given = make(encoder=TableEncoder("table v3"))
    with given:
        given.add(TEXTS, ids=IDS, vectors=np.eye(4, 64, dtype=np.float32))
        assert given.search("a cat", k=1)  # no recipe recorded, and not an old space


def test_queries_searched_together_find_what_one_search_each_finds(make: Make) -> None:
    """``search_embedded`` (``search_many``'s dense path; one index call in SQLite) against
    one ``search`` per query: through HNSW with rows added after the index and rows deleted,
    exactly, and in a space of passages (documents once each)."""
    texts = [
        f"item {i} about {('cats', 'stocks', 'rivers', 'bread')[i % 4]} {i % 7}" for i in range(900)
    ]
    queries = ["cats 3", "stocks", "rivers 5", "bread 1", "item 42 about cats"]
    groups = [{"n": i % 3} for i in range(900)]
    with make(ann_threshold=500) as space:
        space.add(texts[:800], ids=[f"t{i}" for i in range(800)], metadata=groups[:800])
        space.optimize()  # a graph of 800 rows; the next ones are "recent"
        space.add(texts[800:], ids=[f"t{i}" for i in range(800, 900)], metadata=groups[800:])
        space.delete(["t3", "t810"])
        vectors = space.encoder.encode_query(queries)
        # unfiltered; 300 rows kept (exact); 600 kept (through HNSW, above the threshold)
        wheres = (None, {"n": 1}, {"n": {"in": [0, 2]}})
        for exact, where in [(e, w) for e in (False, True) for w in wheres]:
            together = space.search_embedded(queries, vectors, 10, exact=exact, where=where)
            for query, found in zip(queries, together, strict=True):
                alone = space.search(query, 10, exact=exact, where=where)
                assert [m.id for m in found] == [m.id for m in alone], (query, exact, where)
                assert all(
                    where is None or m.metadata["n"] != 1 or where == {"n": 1} for m in found
                )
                np.testing.assert_allclose(
                    [m.score for m in found], [m.score for m in alone], atol=1e-5
                )
                assert "t3" not in {m.id for m in found}
        with pytest.raises(es.InvalidInput, match="5 query texts but 4 vectors"):
            space.search_embedded(queries, vectors[:4], 3)
        with pytest.raises(es.DimensionMismatch):
            space.search_embedded(queries, vectors[:, :10], 3)
    with make() as space:
        parts = [
            es.Record(f"doc{d}#{i}", f"part {i} of text {d} about {t}", {"_document": f"doc{d}"})
            for d, t in enumerate(("cats", "stocks"))
            for i in range(3)
        ]
        space.upsert(parts)
        vectors = space.encoder.encode_query(["cats", "stocks"])
        grouped = space.search_embedded(["cats", "stocks"], vectors, 5)
        assert [[m.id for m in ms] for ms in grouped] == [
            [m.id for m in space.search(q, 5)] for q in ("cats", "stocks")
        ]
        assert all(len(ms) == 2 for ms in grouped)  # one match per document
        listed = space.search_embedded(["cats"], vectors[:1], 5, passages=True)[0]
        assert len(listed) == 5 and all("#" in m.id for m in listed)
