"""Many queries at once (`search_many`, `embedspace search-many`): the answers one search
per query gives, the queries embedded together, bad input refused before any work."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import CountingEncoder, TableEncoder, fail, needs_minilm, run

import embedspace as es
from embedspace.cli import main as cli
from embedspace.ops.search_many import iter_answers, read_queries

TOPICS = ["cats", "stock markets", "football", "volcanoes", "bread", "planets", "rivers"]
TEXTS = [f"{TOPICS[i % 7]} note {i}: about {TOPICS[i % 7]} and {TOPICS[i % 5]}" for i in range(60)]
QUERIES = [f"{topic} {word}" for topic in TOPICS for word in ("facts", "news", "today")]


class QueryCalls(CountingEncoder):
    """The fake encoder, recording how many texts each ``encode_query`` call was given."""

    def __init__(self) -> None:
        super().__init__()
        self.query_calls: list[int] = []

    def encode_query(self, items: Sequence[Any], **options: Any) -> np.ndarray:
        self.query_calls.append(len(items))
        return super().encode_query(items, **options)


def _space(path: Path, encoder: Any = "fake") -> es.Space:
    space = es.Space.create(path, encoder=encoder)
    space.add(
        TEXTS,
        ids=[f"t{i}" for i in range(len(TEXTS))],
        metadata=[{"n": i % 3} for i in range(len(TEXTS))],
    )
    return space


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"k": 3, "where": {"n": 1}},
        {"mode": "hybrid"},
        {"mode": "hybrid", "alpha": 0.4},
        {"mode": "keyword"},
        {"exact": True, "k": 7},
    ],
)
def test_the_answers_are_those_of_one_search_per_query(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    with _space(tmp_path / "s") as space:
        together = es.search_many(space, QUERIES, **options)
        k = options.pop("k", 10)
        alone = [space.search(q, k, **options) for q in QUERIES]
    assert len(together) == len(QUERIES)
    for mine, theirs in zip(together, alone, strict=True):
        assert [m.id for m in mine] == [m.id for m in theirs]
        np.testing.assert_allclose([m.score for m in mine], [m.score for m in theirs], atol=1e-6)
        assert [m.content for m in mine] == [m.content for m in theirs]
    assert all(together)  # every query found something


def test_the_queries_are_embedded_together_in_steps_with_progress(tmp_path: Path) -> None:
    encoder = QueryCalls()
    seen: list[tuple[str, int, int | None]] = []
    with _space(tmp_path / "s", encoder) as space:
        encoder.query_calls.clear()
        answers = list(
            iter_answers(space, QUERIES, 2, step=8, on_progress=lambda *a: seen.append(a))
        )
        assert encoder.query_calls == [8, 8, 5]  # 21 queries, 8 at a time, no single query
        es.search_many(space, QUERIES)
        assert encoder.query_calls[-1] == len(QUERIES)
        encoder.query_calls.clear()
        es.search_many(space, QUERIES, mode="keyword")
        assert encoder.query_calls == []  # keywords need no vector
    assert [a.line for a in answers] == list(range(1, 22))
    assert [a.query for a in answers] == QUERIES
    assert seen[0][1:] == (0, 21) and seen[-1][1:] == (21, 21)
    assert [done for _, done, _ in seen] == [0, 8, 16, 21]


def test_bad_queries_are_refused_before_anything_is_embedded(tmp_path: Path) -> None:
    encoder = QueryCalls()
    with _space(tmp_path / "s", encoder) as space:
        encoder.query_calls.clear()
        with pytest.raises(es.InvalidInput, match="Query 3 is empty"):
            es.search_many(space, ["cats", "bread", "  "])
        with pytest.raises(es.InvalidInput, match="Query 2 holds"):
            es.search_many(space, ["cats", "bad \udc80 text"])
        with pytest.raises(es.InvalidInput, match="not one text"):
            es.search_many(space, "cats")
        with pytest.raises(es.InvalidInput, match="No queries"):
            es.search_many(space, [])
        with pytest.raises(es.InvalidInput, match="alpha"):
            es.search_many(space, ["cats"], alpha=0.5)  # alpha needs --mode hybrid
        with pytest.raises(es.InvalidInput, match="k must be"):
            es.search_many(space, ["cats"], k=0)
        assert encoder.query_calls == []


def test_another_tables_space_is_refused_before_the_queries_are_embedded(tmp_path: Path) -> None:
    with es.Space.create(tmp_path / "s", encoder=TableEncoder("table v2")) as space:
        space.add(["an old row"], ids=["old"])
    encoder = TableEncoder("table v3")
    with (
        es.Space.open(tmp_path / "s", encoder=encoder) as space,
        pytest.raises(es.EncoderMismatch, match="cannot be compared"),
    ):
        es.search_many(space, ["cats", "bread"])
    assert encoder.calls == []


def test_reading_a_queries_file(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_bytes("\ufeffcats\r\n\r\n  bread  \r\nvolcanoes".encode())
    assert read_queries(path) == [(1, "cats"), (3, "bread"), (4, "volcanoes")]
    path.write_bytes(b"cats\ncaf\xe9\n")
    with pytest.raises(es.InvalidInput, match="not UTF-8: byte 0xe9 on line 2.*iconv -f latin1"):
        read_queries(path)
    path.write_bytes("cats\n".encode("utf-16"))
    with pytest.raises(
        es.InvalidInput, match="is UTF-16 text.*iconv -f utf-16 -t utf-8 .*q.txt > .*q.utf8.txt"
    ):
        read_queries(path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    with pytest.raises(es.InvalidInput, match=r"binary data\)\. Give a text file, one query"):
        read_queries(path)
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(es.InvalidInput, match="holds no query"):
        read_queries(path)
    with pytest.raises(es.InvalidInput, match="No queries file"):
        read_queries(tmp_path / "missing.txt")
    with pytest.raises(es.InvalidInput, match="Cannot read"):
        read_queries(tmp_path)


def test_search_many_from_the_command_line(tmp_path: Path) -> None:
    _space(tmp_path / "s").close()
    questions = tmp_path / "q.txt"
    questions.write_text("cats facts\n\nvolcanoes today\n", encoding="utf-8")
    result = run("search-many", str(tmp_path / "s"), str(questions), "-k", "2", "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["line"], r["query"]) for r in rows] == [(1, "cats facts"), (3, "volcanoes today")]
    with es.Space.open(tmp_path / "s") as space:
        for row in rows:
            alone = space.search(row["query"], 2)
            assert [m["id"] for m in row["matches"]] == [m.id for m in alone]
            assert set(row["matches"][0]) == {"id", "score", "content", "metadata"}
    piped = CliRunner().invoke(
        cli, ["search-many", str(tmp_path / "s"), "-", "-k", "1"], input="bread news\n"
    )
    assert piped.exit_code == 0, piped.output
    assert "1: 'bread news'" in piped.output and "rank" in piped.output
    assert "holds no query" in fail("search-many", str(tmp_path / "s"), "-", "--json")
    latin = CliRunner().invoke(cli, ["search-many", str(tmp_path / "s"), "-"], input=b"caf\xe9")
    assert latin.exit_code != 0
    assert "standard input is not UTF-8: byte 0xe9 on line 1" in latin.output
    assert "| iconv -f latin1 -t utf-8 |" in latin.output
    assert "No queries file" in fail("search-many", str(tmp_path / "s"), str(tmp_path / "nope"))


def test_answers_are_written_as_they_come_and_kept_when_a_later_query_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Piped output is streamed: the answers before a failure are on stdout, whole."""
    import embedspace.cli.search_cmd as command

    def failing(*args: Any, **options: Any) -> Iterator[Any]:
        answers = iter_answers(*args, **options, step=2)
        yield next(answers)
        yield next(answers)
        raise es.StorageError("the disk went away")

    _space(tmp_path / "s").close()
    questions = tmp_path / "q.txt"
    questions.write_text("\n".join(QUERIES[:5]), encoding="utf-8")
    monkeypatch.setattr(command, "iter_answers", failing)
    result = run("search-many", str(tmp_path / "s"), str(questions), "--json")
    assert result.exit_code != 0
    lines = result.stdout.splitlines()
    assert [json.loads(line)["line"] for line in lines] == [1, 2]
    assert "the disk went away" in result.stderr


@needs_minilm
def test_real_queries_embedded_together_find_what_single_searches_find(tmp_path: Path) -> None:
    from embedspace.encoders.bert_folder import headlines

    with es.Space.create(tmp_path / "news", encoder="minilm-l6") as space:
        space.add(headlines())
        queries = ["food", "space exploration", "elections", "a storm is coming", "sports results"]
        together = es.search_many(space, queries, 5)
        for query, mine in zip(queries, together, strict=True):
            alone = space.search(query, 5)
            assert [m.id for m in mine] == [m.id for m in alone], query
            np.testing.assert_allclose([m.score for m in mine], [m.score for m in alone], atol=2e-3)


def test_a_query_the_encoder_embeds_as_zeros_is_answered_as_a_single_search_answers_it(
    tmp_path: Path,
) -> None:
    with es.Space.create(tmp_path / "h", encoder="hashing") as space:
        space.add(["a cat on a mat", "stock markets fell"], ids=["cat", "stocks"])
        assert not space.encoder.encode_query(["!!!"]).any()  # hashing: no word, no vector
        together = es.search_many(space, ["a cat", "!!!"], 2)
        alone = [space.search("a cat", 2), space.search("!!!", 2)]
    assert [[m.id for m in ms] for ms in together] == [[m.id for m in ms] for ms in alone]
    assert together[0][0].id == "cat"


def test_a_bad_filter_is_refused_before_embedding_and_a_missing_field_warned_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    encoder = QueryCalls()
    with _space(tmp_path / "s", encoder) as space:
        encoder.query_calls.clear()
        with pytest.raises(es.InvalidInput, match="operator"):
            es.search_many(space, QUERIES, where={"n": {"~": 1}})
        assert encoder.query_calls == []
        with caplog.at_level("WARNING", logger="embedspace"):
            found = es.search_many(space, QUERIES, where={"colour": "red"})
    assert found == [[] for _ in QUERIES]
    assert caplog.text.count("has the metadata field 'colour'") == 1


def test_a_line_that_finds_nothing_says_so(tmp_path: Path) -> None:
    _space(tmp_path / "s").close()
    questions = tmp_path / "q.txt"
    questions.write_text("cats facts\nbread news\n", encoding="utf-8")
    shown = run("search-many", str(tmp_path / "s"), str(questions), "--where", "n=7").output
    assert "1: 'cats facts' in" in shown and "2: 'bread news' in" in shown
    assert shown.count("no results.") == 2


def test_a_vector_query_takes_no_embedded_vector_and_markup_is_plain_text(
    tmp_path: Path,
) -> None:
    with _space(tmp_path / "s") as space:
        vector = space.encoder.encode_query(["cats"])[0]
        with pytest.raises(es.InvalidInput, match="goes with a text query"):
            space.search(vector, 3, embedded=vector)
    shown = run("search", str(tmp_path / "s"), "cats [/b] facts", "-k", "1").output
    assert "cats [/b] facts" in shown  # rich would read "[/b]" as a closing tag and fail


def test_a_euclidean_space_answers_a_batch_as_single_searches_even_for_near_copies(
    tmp_path: Path,
) -> None:
    space = es.Space.create(tmp_path / "e", encoder="fake", metric="euclidean")
    with space:
        space.add(TEXTS, ids=[f"t{i}" for i in range(len(TEXTS))])
        asked = TEXTS[:40]  # each query is a stored text: its own row scores exactly 0 alone
        together = es.search_many(space, asked, 3)
        for text, found in zip(asked, together, strict=True):
            alone = space.search(text, 3)
            assert [(m.id, m.score) for m in found] == [(m.id, m.score) for m in alone]
            assert found[0].score == 0.0
