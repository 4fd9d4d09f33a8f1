"""Keeping a space in step with its files: index --sync, items, remove, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import embedspace as es
from tests.conftest import fail, run


def ids(space: str) -> list[str]:
    with es.Space.open(space) as opened:
        return opened.ids()


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    """Like conftest's, with a numeric year column."""
    file = tmp_path / "docs.csv"
    file.write_text(
        "id,text,topic,year\n"
        "a,the cat sat on the mat,pets,2020\n"
        "b,a dog chased the cat,pets,2021\n"
        "c,stock prices fell,money,2021\n"
    )
    return file


def test_sync_removes_the_rows_deleted_from_the_file_and_nothing_else(
    csv_file: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text('{"id": "z", "text": "from another file"}\n')
    run("index", "docs", str(csv_file), str(other), "--encoder", "fake")
    csv_file.write_text("id,text,topic,year\na,the cat sat on the mat,pets,2020\n")
    plain = run("index", "docs", str(csv_file))  # without --sync nothing is removed
    assert "1 unchanged, 0 rejected" in plain.stdout and ids("docs") == ["a", "b", "c", "z"]
    synced = run("index", "docs", str(csv_file), "--sync")
    assert synced.exit_code == 0, synced.output
    assert "Indexed 1 item into 'docs'" in synced.stdout and "2 removed" in synced.stdout
    assert ids("docs") == ["a", "z"]  # the other file's item stays
    again = json.loads(run("index", "docs", str(csv_file), "--sync", "--json").stdout)
    assert again["removed"] == 0 and again["count"] == 2


def test_sync_refuses_a_table_with_skipped_rows(csv_file: Path) -> None:
    run("index", "docs", str(csv_file), "--encoder", "fake")
    csv_file.write_text("id,text\na,the cat sat on the mat\nb,\n")
    message = fail("index", "docs", str(csv_file), "--sync", "--skip-invalid")
    assert "Cannot --sync" in message and "1 of its rows were skipped" in message
    assert ids("docs") == ["a", "b", "c"]


def test_a_folder_of_text_files_is_indexed_and_synced(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    (notes / "2024").mkdir(parents=True)
    (notes / "cats.txt").write_text("Cats sleep most of the day.\n")
    (notes / "2024" / "plan.md").write_text("# Plan\n\nBuy more cat food.\n")
    (notes / "empty.txt").write_text("")
    result = run("index", "notes", str(notes), "--encoder", "fake")
    assert result.exit_code == 0, result.output
    assert "2 added" in result.stdout and "1 rejected" in result.stdout
    assert "empty.txt: is empty" in result.stderr
    assert sorted(ids("notes")) == ["2024/plan.md", "cats.txt"]
    (notes / "cats.txt").write_bytes(b"\x00\x01 damaged")  # unreadable now: kept, not gone
    kept = run("index", "notes", str(notes), "--sync", "--json")
    assert json.loads(kept.stdout)["removed"] == 0 and "cats.txt: is not a text file" in kept.stderr
    (notes / "cats.txt").unlink()
    synced = run("index", "notes", str(notes), "--sync", "--json")
    assert json.loads(synced.stdout)["removed"] == 1 and ids("notes") == ["2024/plan.md"]


def test_items_lists_ids_text_and_metadata(csv_file: Path) -> None:
    run("index", "docs", str(csv_file), "--encoder", "fake")
    rows = [json.loads(x) for x in run("items", "docs", "--json").stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["content"] == "the cat sat on the mat"
    assert rows[0]["metadata"]["topic"] == "pets" and rows[0]["metadata"]["year"] == 2020
    assert rows[0]["metadata"]["_source"] == str(csv_file.resolve())
    money = run("items", "docs", "--where", "topic=money", "--json").stdout.splitlines()
    assert [json.loads(x)["id"] for x in money] == ["c"]
    assert len(run("items", "docs", "--limit", "2", "--json").stdout.splitlines()) == 2
    table = run("items", "docs", "--limit", "2").stdout
    assert "3 items in 'docs', 2 shown" in table and 'topic="pets"' in table
    assert "No items match" in run("items", "docs", "--where", "topic=none").stdout


def test_remove_counts_and_refuses_unknown_ids(
    csv_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run("index", "docs", str(csv_file), "--encoder", "fake")
    with caplog.at_level("WARNING", logger="embedspace"):
        message = fail("remove", "docs", "a", "nope")
    assert "_document" not in caplog.text  # looking for a document of that id is silent
    assert "Not in space 'docs': nope; nothing was removed" in message
    assert ids("docs") == ["a", "b", "c"]
    done = run("remove", "docs", "a", "nope", "--missing-ok")
    assert done.exit_code == 0 and "Removed 1 item from 'docs' (2 left)." in done.stdout
    assert "Not in the space: nope." in done.stderr
    report = json.loads(run("remove", "docs", "b", "c", "--json").stdout)
    assert report == {"removed": 2, "missing": [], "count": 0}


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_export_reads_back_with_the_same_items(csv_file: Path, tmp_path: Path, suffix: str) -> None:
    run("index", "docs", str(csv_file), "--encoder", "fake")
    with es.Space.open("docs") as space:
        space.update_metadata({"a": {"flag": True, "tags": ["x", "y"], "score": 0.25}})
    out = tmp_path / f"docs{suffix}"
    made = run("export", "docs", "-o", str(out))
    assert made.exit_code == 0 and f"Wrote 3 items of 'docs' to {out}" in made.stdout
    copied = run("index", "copy", str(out), "--vector-field", "vector", "--encoder", "fake")
    assert copied.exit_code == 0, copied.output
    assert "3 added" in copied.stdout and "(0 embedded;" in copied.stdout
    with es.Space.open("docs") as original, es.Space.open("copy") as copy:
        assert copy.ids() == original.ids()
        for item_id in original.ids():
            before, after = original.get(item_id), copy.get(item_id)
            assert before is not None and after is not None
            assert after.content == before.content
            assert after.metadata.pop("_source") == str(out.resolve())
            assert after.metadata == {k: v for k, v in before.metadata.items() if k != "_source"}
            np.testing.assert_allclose(after.vector, before.vector, rtol=1e-6)
    assert after.metadata["year"] == 2021  # typed values survive the trip


def test_export_file_layout_and_filters(csv_file: Path, tmp_path: Path) -> None:
    run("index", "docs", str(csv_file), "--encoder", "fake")
    out = tmp_path / "pets.parquet"
    run("export", "docs", "-o", str(out), "--where", "topic=pets")
    table = pq.read_table(out)
    assert table.column_names == ["id", "content", "metadata", "vector"]
    assert table.column("id").to_pylist() == ["a", "b"]
    assert json.loads(table.column("metadata")[0].as_py()) == {"topic": "pets", "year": 2020}
    assert table.schema.metadata[b"embedspace.encoder"] == b"fake"
    assert "use a name ending in .parquet, .jsonl" in fail(
        "export", "docs", "-o", str(tmp_path / "x.csv")
    )
