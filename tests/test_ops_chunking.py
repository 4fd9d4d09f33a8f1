"""Long documents indexed as passages: splitting, writing, re-indexing and searching."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import embedspace as es
from embedspace.cli import main
from embedspace.io.passages import sentences, split_passages
from tests.conftest import needs_minilm


def words(texts: list[str] | tuple[str, ...]) -> list[int]:
    return [len(t.split()) for t in texts]


def story(count: int, word: str = "topic") -> str:
    return " ".join(f"Sentence {i} is about {word} {i} today." for i in range(count))


def test_passages_fit_follow_sentence_ends_and_overlap() -> None:
    text = story(20)  # 20 sentences of 7 words
    passages = split_passages(text, words, max_tokens=20, overlap=8)
    assert all(n <= 20 for n in words(passages))
    assert all(p.endswith(".") for p in passages)  # cut at sentence ends only
    for before, after in zip(passages, passages[1:], strict=False):
        assert after.startswith(sentences(before)[-1])  # the last sentence repeated
    found = [s for p in passages for s in sentences(p)]
    assert list(dict.fromkeys(found)) == sentences(text)  # every sentence, in order


def test_a_sentence_longer_than_a_passage_is_cut_between_words() -> None:
    long = " ".join(f"w{i}" for i in range(50)) + "."
    passages = split_passages(long, words, max_tokens=12)
    assert all(n <= 12 for n in words(passages)) and len(passages) >= 5
    assert " ".join(passages).split() == long.split()
    with pytest.raises(ValueError, match="overlap"):
        split_passages(long, words, max_tokens=12, overlap=6)


@needs_minilm
def test_minilm_passages_fit_its_window() -> None:
    encoder = es.encoders.get("minilm-l6")
    assert encoder.max_tokens == 256
    text = story(200)
    assert encoder.token_counts([text])[0] > 256  # uncut count, though embedding cuts
    passages = split_passages(text, encoder.token_counts, 256, 32)
    assert len(passages) > 3 and encoder.count_truncated(passages) == 0


def _index(tmp_path: Path, docs: dict[str, str], *extra: str) -> dict:
    source = tmp_path / "docs.jsonl"
    source.write_text("\n".join(json.dumps({"id": k, "text": v}) for k, v in docs.items()))
    args = ["index", "docs", str(source), "--encoder", "fake", "--chunk-tokens", "20", "--json"]
    result = CliRunner().invoke(main, [*args, *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_index_splits_long_documents_and_search_returns_each_document_once(
    tmp_path: Path,
) -> None:
    report = _index(tmp_path, {"long": story(12, "rockets"), "short": "A cat sat."})
    assert report["split"] == 1 and report["passages"] >= 3
    with es.Space.open("docs") as space:
        assert "long" not in space and "long#1" in space and "short" in space
        found = space.search("rockets", k=5, mode="keyword")
        assert [m.id for m in found] == ["long"]  # once, by its best passage
        assert "rockets" in found[0].content and found[0].metadata["_passage"] >= 1
        parts = space.search("rockets", k=10, mode="keyword", passages=True)
        assert len(parts) == report["passages"]
        dense = space.search("rockets", k=2)
        assert sorted(m.id for m in dense) == ["long", "short"]
    result = CliRunner().invoke(main, ["search", "docs", "rockets", "--passages", "--json"])
    assert result.exit_code == 0 and '"long#' in result.output
    # the id a search returned works where ids are taken: similar names its passages...
    similar = CliRunner().invoke(main, ["similar", "docs", "long"])
    assert similar.exit_code == 1
    assert f"'long' in space 'docs' is a document stored as {report['passages']} passages" in (
        similar.stderr
    )
    assert "e.g. 'long#1'" in similar.stderr
    # ... and remove takes the document with all its passages
    removed = CliRunner().invoke(main, ["remove", "docs", "long"])
    assert removed.exit_code == 0, removed.output
    with es.Space.open("docs") as space:
        assert space.ids() == ["short"]


def test_reindexing_a_changed_document_replaces_all_its_passages(tmp_path: Path) -> None:
    first = _index(tmp_path, {"long": story(12), "other": story(9, "boats")})
    again = _index(tmp_path, {"long": story(5), "other": "Boats float."})
    with es.Space.open("docs") as space:
        ids = set(space.ids())
    assert "other" in ids and not any(i.startswith("other#") for i in ids)
    long_parts = sorted(i for i in ids if i.startswith("long#"))
    assert 1 <= len(long_parts) < first["passages"]
    assert again["count"] == len(ids)
    connection = sqlite3.connect(tmp_path / "home" / "docs" / "space.db")
    (count,) = connection.execute("SELECT count(*) FROM items").fetchone()
    connection.close()
    assert count == len(ids) == again["count"]


def test_sync_keeps_the_passages_of_documents_still_there(tmp_path: Path) -> None:
    _index(tmp_path, {"long": story(12), "gone": story(12, "boats")})
    _index(tmp_path, {"long": story(12)}, "--sync")
    with es.Space.open("docs") as space:
        ids = set(space.ids())
    assert ids and all(i.startswith("long#") for i in ids)


def test_bad_chunk_options_and_reserved_fields(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text(json.dumps({"id": "a", "text": story(10), "_document": "x"}))
    runner = CliRunner()
    base = ["index", "docs", str(source), "--encoder", "fake"]
    result = runner.invoke(main, [*base, "--chunk-tokens", "20"])
    assert result.exit_code == 1 and "reserves for the passages" in result.output
    result = runner.invoke(main, [*base, "--chunk-tokens", "4"])
    assert result.exit_code == 1 and "at least 8" in result.output
    source.write_text(json.dumps({"id": "a", "text": story(10)}))
    result = runner.invoke(main, [*base, "--chunk-tokens", "20", "--chunk-overlap", "15"])
    assert result.exit_code == 1 and "--chunk-overlap must be between 0 and 9" in result.output


def test_turning_splitting_off_replaces_the_old_passages_and_deleting_a_document_deletes_them(
    tmp_path: Path,
) -> None:
    _index(tmp_path, {"long": story(12), "other": story(12, "boats")})
    again = _index(
        tmp_path, {"long": story(12), "other": story(12, "boats")}, "--chunk-tokens", "0"
    )
    with es.Space.open("docs") as space:
        assert set(space.ids()) == {"long", "other"} and again["count"] == 2
    _index(tmp_path, {"long": story(12), "other": story(12, "boats")})
    with es.Space.open("docs") as space:
        parts = [i for i in space.ids() if i.startswith("other#")]
        assert parts and space.delete(["other", parts[0]]) == len(parts)  # each counted once
        assert len(space) == len(space.ids())
        assert not any(i.startswith("other") for i in space.ids())
        plan = space._db.connection.execute(  # the passage check reads the index, not rows
            "EXPLAIN QUERY PLAN SELECT 1 FROM items "
            "WHERE json_extract(metadata, '$._document') > '' LIMIT 1"
        ).fetchall()
    assert "USING INDEX items_document" in str(plan)
