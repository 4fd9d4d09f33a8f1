"""Keyword (FTS5 bm25) and hybrid search in a space, from Python, the CLI and HTTP."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import embedspace as es
from embedspace.cli import main
from embedspace.errors import InvalidInput
from embedspace.store.fusion import convex_combination, reciprocal_rank_fusion

TEXTS = {
    "part": "Replacement part XK-4471 ships from the Leeds warehouse",
    "cafe": "The café on Main Street serves espresso",
    "run": "She runs every morning before work",
    "cat": "A cat sat on the mat",
    "stocks": "Stocks fell sharply after the announcement",
}
TOPICS = {"part": "shop", "cafe": "food", "run": "sport", "cat": "pets", "stocks": "money"}


@pytest.fixture
def space() -> es.Space:
    created = es.Space.create("news", encoder="fake")
    created.add(
        list(TEXTS.values()), ids=list(TEXTS), metadata=[{"topic": TOPICS[i]} for i in TEXTS]
    )
    return created


def ids(matches: list[es.Match]) -> list[str]:
    return [m.id for m in matches]


def test_keyword_search_finds_codes_and_folds_case_accents_and_word_endings(
    space: es.Space,
) -> None:
    assert ids(space.search("xk-4471", mode="keyword"))[0] == "part"
    assert ids(space.search("CAFE", mode="keyword")) == ["cafe"]
    assert ids(space.search("running", mode="keyword")) == ["run"]
    found = space.search("cat on a mat", mode="keyword")
    assert found[0].id == "cat" and found[0].score > 0
    assert space.search("zebra", mode="keyword") == []


def test_the_keyword_index_follows_every_write_in_the_same_transaction(space: es.Space) -> None:
    space.upsert([es.Record("cat", "A dog slept by the fire", {"topic": "pets"})])
    assert space.search("mat", mode="keyword") == []
    assert ids(space.search("fire", mode="keyword")) == ["cat"]
    space.delete(["part"])
    assert space.search("warehouse", mode="keyword") == []
    connection = sqlite3.connect(space.path / "space.db")
    connection.execute("INSERT INTO items_fts(items_fts, rank) VALUES ('integrity-check', 1)")
    connection.close()


def test_spaces_made_before_the_keyword_index_get_it_built_when_opened(space: es.Space) -> None:
    path = space.path
    space.close()
    connection = sqlite3.connect(path / "space.db")
    with connection:
        for trigger in ("insert", "delete", "update"):
            connection.execute(f"DROP TRIGGER items_fts_{trigger}")
        connection.execute("DROP TABLE items_fts")
        connection.execute("DROP INDEX items_document")
        connection.execute("PRAGMA user_version = 2")
    connection.close()
    with es.Space.open(path) as reopened:
        assert ids(reopened.search("espresso", mode="keyword")) == ["cafe"]


@pytest.mark.parametrize(
    "query",
    ['"', "*", "NEAR(cat mat)", "cat AND", '"unbalanced', "(((", "!!!", "-", "^cat", "a:b"],
)
def test_fts_syntax_in_a_query_is_just_text(space: es.Space, query: str) -> None:
    for mode in ("keyword", "hybrid"):
        found = space.search(query, mode=mode)
        assert all(isinstance(m, es.Match) for m in found)
    assert "cat" in ids(space.search("NEAR(cat mat)", mode="keyword"))


def test_empty_and_huge_queries(space: es.Space) -> None:
    for empty in ("", "   "):
        with pytest.raises(InvalidInput, match="empty"):
            space.search(empty, mode="keyword")
    huge = "espresso " + "lorem ipsum dolor " * 6000  # ~100 KB
    assert ids(space.search(huge, mode="keyword"))[0] == "cafe"


def test_hybrid_fuses_both_sides_and_filters_both_before_fusion(space: es.Space) -> None:
    both = space.search("XK-4471 warehouse", k=5, mode="hybrid")
    assert both[0].id == "part" and len(both) == 5
    filtered = space.search("XK-4471 warehouse", k=5, mode="hybrid", where={"topic": "food"})
    assert ids(filtered) == ["cafe"]
    weighted = space.search("XK-4471", k=5, mode="hybrid", alpha=0.0)
    assert weighted[0].id == "part"


def test_modes_are_checked(space: es.Space) -> None:
    vector = np.ones(space.stamp.dim, dtype=np.float32)
    with pytest.raises(InvalidInput, match="vector query is dense only"):
        space.search(vector, mode="keyword")
    with pytest.raises(InvalidInput, match="mode must be one of"):
        space.search("cat", mode="bm25")
    with pytest.raises(InvalidInput, match="--mode hybrid"):
        space.search("cat", alpha=0.5)
    with pytest.raises(InvalidInput, match="between 0"):
        space.search("cat", mode="hybrid", alpha=1.5)


def test_reciprocal_rank_fusion_and_the_convex_combination() -> None:
    dense = (np.array([1, 2, 3]), np.array([0.9, 0.8, 0.1]))
    words = (np.array([3, 4]), np.array([12.0, 2.0]))
    rowids, scores = reciprocal_rank_fusion(dense, words, k=4)
    assert rowids[0] == 3  # in both lists
    assert scores[0] == pytest.approx(1 / 63 + 1 / 61)
    assert set(rowids.tolist()) == {1, 2, 3, 4}
    assert convex_combination(dense, words, alpha=1.0, k=2)[0].tolist() == [1, 2]
    assert convex_combination(dense, words, alpha=0.0, k=1)[0].tolist() == [3]


def test_the_cli_searches_by_mode(space: es.Space) -> None:
    space.close()
    runner = CliRunner()
    result = runner.invoke(main, ["search", "news", "XK-4471", "--mode", "keyword", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[0])["id"] == "part"
    result = runner.invoke(main, ["search", "news", "cat", "--alpha", "0.5"])
    assert result.exit_code != 0 and "--mode hybrid" in result.output


def test_http_search_by_mode(space: es.Space) -> None:
    from fastapi.testclient import TestClient

    from embedspace.server import ServerSettings, create_app

    space.close()
    settings = ServerSettings(models=("fake",), default_model="fake")
    with TestClient(create_app(settings)) as client:
        body = {"query": "XK-4471", "mode": "keyword", "k": 3}
        found = client.post("/spaces/news/search", json=body).json()["matches"]
        assert found[0]["id"] == "part"
        hybrid = {"query": "warehouse", "mode": "hybrid", "where": {"topic": "food"}}
        assert [
            m["id"] for m in client.post("/spaces/news/search", json=hybrid).json()["matches"]
        ] == ["cafe"]
        got = client.get("/spaces/news/search", params={"q": "espresso", "mode": "keyword"})
        assert [m["id"] for m in got.json()["matches"]] == ["cafe"]
        params = {"q": "warehouse", "mode": "hybrid", "alpha": 0.0, "passages": "true"}
        hybrid_get = client.get("/spaces/news/search", params=params).json()["matches"]
        assert hybrid_get[0]["id"] == "part"
        refused_alpha = client.get("/spaces/news/search", params={"q": "cat", "alpha": 0.5})
        assert refused_alpha.status_code == 400 and "hybrid" in refused_alpha.text
        new = {"name": "grams", "encoder": "fake", "keyword_index": "trigram"}
        made = client.post("/spaces", json=new)
        assert made.status_code == 201, made.text
        with es.Space.open("grams") as grams:
            assert grams.info()["keyword_index"] == "trigram"
        vector_keyword = {"vector": [0.1] * 64, "mode": "keyword"}
        refused = client.post("/spaces/news/search", json=vector_keyword)
        assert refused.status_code == 400


def test_a_trigram_keyword_index_finds_partial_words_and_code_fragments(tmp_path: Path) -> None:
    with es.Space.create("grams", encoder="fake", keyword_index="trigram") as grams:
        grams.add(list(TEXTS.values()), ids=list(TEXTS))
        assert grams.info()["keyword_index"] == "trigram"
        assert ids(grams.search("warehou", mode="keyword")) == ["part"]
        assert ids(grams.search("447", mode="keyword")) == ["part"]
        assert grams.search("of", mode="keyword") == []  # under 3 characters: no term
        grams.delete(["part"])
        assert grams.search("warehou", mode="keyword") == []
    with es.Space.create("words", encoder="fake") as words:
        words.add(list(TEXTS.values()), ids=list(TEXTS))
        assert words.info()["keyword_index"] == "porter"
        assert words.search("warehou", mode="keyword") == []
    with pytest.raises(InvalidInput, match="porter or trigram"):
        es.Space.create("bad", encoder="fake", keyword_index="ngram")
    source = tmp_path / "docs.csv"
    source.write_text("id,text\na,Order XK-4471 shipped\n", encoding="utf-8")
    runner = CliRunner()
    made = ["index", "codes", str(source), "--encoder", "fake", "--keyword-index", "trigram"]
    assert runner.invoke(main, made).exit_code == 0
    found = runner.invoke(main, ["search", "codes", "K-447", "--mode", "keyword", "--json"])
    assert json.loads(found.output.splitlines()[0])["id"] == "a"
    again = runner.invoke(main, [*made[:-1], "porter"])
    assert again.exit_code == 1 and "has a trigram keyword index" in again.output
