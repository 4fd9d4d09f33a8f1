"""SQL on spaces (DuckDB): spaces as tables, embed/cosine/dot/euclidean, search(), errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace.ops import sql as sql_module
from tests.conftest import fail, has, run

pytestmark = pytest.mark.skipif(not has("duckdb"), reason="duckdb is not installed")

ITEMS = [
    ("b1", "brown leather boots for hiking", {"price": 120, "brand": "alpen"}),
    ("b2", "black leather ankle boots", {"price": 80, "brand": "urban"}),
    ("b3", "rubber rain boots", {"price": 30, "brand": "urban"}),
    ("s1", "running shoes with a foam sole", {"price": 95, "brand": "fleet"}),
    ("h1", "a wool winter hat", {"price": 20, "brand": "alpen"}),
]


@pytest.fixture
def shop() -> es.Space:
    space = es.Space.create("shop", encoder="fake")
    space.add(
        [t for _, t, _ in ITEMS], ids=[i for i, _, _ in ITEMS], metadata=[m for *_, m in ITEMS]
    )
    yield space
    space.close()


def test_a_space_is_a_table_with_typed_metadata_columns_and_its_vectors(shop: es.Space) -> None:
    table = es.sql("SELECT * FROM shop ORDER BY id")
    assert table.column_names == ["id", "content", "brand", "price", "vector"]
    assert table["id"].to_pylist() == sorted(i for i, _, _ in ITEMS)
    assert str(table.schema.field("price").type) == "int64"
    vectors = np.array(table["vector"].to_pylist(), dtype=np.float32)
    expected = np.stack([shop.get(i).vector for i in table["id"].to_pylist()])
    np.testing.assert_array_equal(vectors, expected)
    with es.SqlSession() as session:
        rows = session.query("DESCRIBE shop").to_pylist()
    assert {r["column_name"]: r["column_type"] for r in rows}["vector"] == "FLOAT[64]"


def test_search_in_sql_agrees_with_the_space_search(shop: es.Space) -> None:
    for mode in ("dense", "keyword", "hybrid"):
        rows = es.sql(
            f"SELECT rank, id, score, content FROM search('shop', 'leather boots', 3, '{mode}')"
        )
        expected = shop.search("leather boots", 3, mode=mode)
        assert rows["id"].to_pylist() == [m.id for m in expected], mode
        np.testing.assert_allclose(
            rows["score"].to_pylist(), [m.score for m in expected], rtol=1e-6
        )
        assert rows["rank"].to_pylist() == list(range(1, len(expected) + 1))
    three = es.sql("SELECT id FROM search('shop', 'leather boots', 3)")["id"].to_pylist()
    assert three == [m.id for m in shop.search("leather boots", 3)]


def test_a_filter_inside_search_is_applied_before_ranking(shop: es.Space) -> None:
    where = json.dumps({"price": {"<": 100}})
    rows = es.sql(f"SELECT id, metadata FROM search('shop', 'boots', 2, 'dense', '{where}')")
    expected = shop.search("boots", 2, where={"price": {"<": 100}})
    assert rows["id"].to_pylist() == [m.id for m in expected] and len(expected) == 2
    assert all(json.loads(m)["price"] < 100 for m in rows["metadata"].to_pylist())


def test_order_by_cosine_of_embed_is_the_exact_ranking(shop: es.Space) -> None:
    query = shop.encoder.encode(["leather boots"])[0]
    snapshot = shop.snapshot()
    exact = [snapshot.ids[i] for i in np.argsort(-(snapshot.vectors @ query), kind="stable")]
    table = es.sql(
        "SELECT id, cosine(vector, embed('leather boots', 'shop')) AS c, "
        "dot(vector, embed('leather boots', 'fake')) AS d, "
        "euclidean(vector, embed('leather boots', 'shop')) AS e "
        "FROM shop ORDER BY c DESC"
    )
    assert table["id"].to_pylist() == exact
    by_id = dict(zip(snapshot.ids, snapshot.vectors, strict=True))
    for row in table.to_pylist():
        vector = by_id[row["id"]]
        cosine = float(vector @ query / np.linalg.norm(vector) / np.linalg.norm(query))
        assert row["c"] == pytest.approx(cosine, abs=1e-5)
        assert row["d"] == pytest.approx(float(vector @ query), abs=1e-5)
        assert row["e"] == pytest.approx(float(np.linalg.norm(vector - query)), abs=1e-5)


def test_a_filtered_exact_ranking_and_a_join_with_a_file(shop: es.Space, tmp_path: Path) -> None:
    prices = tmp_path / "stock.csv"
    prices.write_text("id,stock\nb1,0\nb2,4\nb3,7\ns1,2\nh1,9\n")
    table = es.sql(
        f"SELECT s.id, s.score, p.stock FROM search('shop', 'leather boots', 10) s "
        f"JOIN read_csv('{prices}') p USING (id) WHERE p.stock > 0 ORDER BY s.score DESC"
    )
    ranked = [m.id for m in shop.search("leather boots", 10)]
    assert table["id"].to_pylist() == [i for i in ranked if i != "b1"]
    cheap = es.sql(
        "SELECT id FROM shop WHERE price < 100 "
        "ORDER BY cosine(vector, embed('leather boots', 'shop')) DESC LIMIT 2"
    )["id"].to_pylist()
    assert cheap == [
        m.id for m in shop.search("leather boots", 2, where={"price": {"<": 100}}, exact=True)
    ]


def test_embed_is_memoised_by_text(shop: es.Space, monkeypatch: pytest.MonkeyPatch) -> None:
    counting = es.encoders.get("fake")
    calls: list[str] = counting.calls  # type: ignore[attr-defined]
    with es.SqlSession() as session:
        monkeypatch.setattr(session, "_encoder_for", lambda name: counting)
        session.query("SELECT cosine(vector, embed('boots')) FROM shop")
        session.query("SELECT embed('boots'), embed('hat') FROM range(5000)")
    assert sorted(calls) == ["boots", "hat"]


def test_a_session_reads_a_space_once_and_again_after_it_changed(
    shop: es.Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[bool] = []
    real = sql_module.space_table

    def counted(space: es.Space, *, vectors: bool = True) -> object:
        reads.append(vectors)
        return real(space, vectors=vectors)

    monkeypatch.setattr(sql_module, "space_table", counted)
    with es.SqlSession() as session:
        assert session.query("SELECT count(id) AS n FROM shop")["n"][0].as_py() == 5
        assert session.query("SELECT count(id) AS n FROM shop")["n"][0].as_py() == 5
        assert reads == [False]  # no vectors: the query does not use them
        session.query("SELECT id FROM shop ORDER BY cosine(vector, embed('x', 'shop'))")
        assert reads == [False, True]
        shop.add(["a red scarf"], ids=["r1"])
        assert session.query("SELECT count(id) AS n FROM shop")["n"][0].as_py() == 6
        assert reads == [False, True, False]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT * FROM nosuch", "nosuch does not exist.*Spaces: shop"),
        ("SELECT nope FROM shop", 'column "nope" not found'),
        ("SELEC 1", "SQL error: syntax error"),
        ("   ", "empty"),
        ("SELECT * FROM search('nosuch', 'boots', 3)", "No space named 'nosuch'. Spaces: shop"),
        ("SELECT * FROM search('shop', 'boots', 3, 'fuzzy')", "mode"),
        ("SELECT * FROM search('shop', 'boots', 3, 'dense', 'price<3')", "filter as JSON"),
        ("SELECT embed('x', 'no-such-encoder')", "Unknown encoder"),
    ],
)
def test_bad_queries_give_one_clear_error(shop: es.Space, query: str, message: str) -> None:
    with pytest.raises(es.EmbedspaceError, match=message) as caught:
        es.sql(query)
    assert "\n" not in str(caught.value)
    assert str(caught.value).count("SQL error") <= 1  # said once, not "SQL error: SQL error"


def test_vectors_of_another_encoder_are_explained(shop: es.Space) -> None:
    with pytest.raises(es.InvalidInput, match=r"different lengths.*embed\(text, 'SPACE'\)"):
        es.sql("SELECT cosine(vector, embed('boots', 'hashing')) FROM shop")


def test_the_command_line_prints_a_table_json_or_csv(shop: es.Space) -> None:
    query = "SELECT id, score FROM search('shop', 'leather boots', 2)"
    expected = [m.id for m in shop.search("leather boots", 2)]
    as_json = [json.loads(line) for line in run("sql", query, "--json").output.splitlines()]
    assert [row["id"] for row in as_json] == expected
    lines = run("sql", query, "--csv").output.splitlines()
    assert lines[0] == "id,score" and [line.split(",")[0] for line in lines[1:]] == expected
    table = run("sql", "SELECT id, vector FROM shop WHERE id = 'b1'").output
    assert "b1" in table and "(64 values)" in table
    assert "SQL error" in fail("sql", "SELECT nope FROM shop")
    assert "--json and --csv" in run("sql", query, "--json", "--csv").output
