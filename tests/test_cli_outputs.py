"""Every command that writes follows one output policy, and long commands show progress
on stderr when it is not a terminal."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import embedspace as es
from embedspace.cli import progress
from embedspace.cli.progress import Progress
from tests.conftest import fail, run


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    file = tmp_path / "corpus.txt"
    file.write_text("the cat sat on the mat\nthe dog sat on the log\n" * 20)
    return file


def test_unwritable_outputs_are_one_error_line_for_every_command(
    csv_file: Path, corpus: Path
) -> None:
    run("index", "docs", str(csv_file), "--encoder", "fake")
    for command in (
        ["embed", "x", "--encoder", "fake", "-o", "/proc/x.npy"],
        ["heatmap", "a", "b", "--encoder", "fake", "-o", "/proc/x.png"],
        ["map", "docs", "-o", "/proc/x.html"],
        ["words", "plot", "cat", "dog", "-o", "/proc/x.html"],
        ["train", "word2vec", str(corpus), "-o", "/proc/words", "--min-count", "1"],
        ["index", "/proc/sp", str(csv_file), "--encoder", "fake"],
        ["export", "docs", "-o", "/proc/x.parquet"],
    ):
        message = fail(*command)
        assert "/proc/" in message and ("not writable" in message or "Could not" in message)


def test_a_missing_folder_is_refused_by_every_command_and_not_created(
    csv_file: Path, corpus: Path, tmp_path: Path
) -> None:
    run("index", "docs", str(csv_file), "--encoder", "fake")
    missing = tmp_path / "no" / "such"
    for command in (
        ["embed", "x", "--encoder", "fake", "-o", str(missing / "x.npy")],
        ["heatmap", "a", "b", "--encoder", "fake", "-o", str(missing / "x.png")],
        ["map", "docs", "-o", str(missing / "x.html")],
        ["words", "plot", "cat", "dog", "-o", str(missing / "x.html")],
        ["train", "word2vec", str(corpus), "-o", str(missing / "words"), "--min-count", "1"],
        ["index", str(missing / "space"), str(csv_file), "--encoder", "fake"],
        ["export", "docs", "-o", str(missing / "x.jsonl")],
    ):
        assert "there is no folder" in fail(*command), command
    assert not (tmp_path / "no").exists()


def test_outputs_follow_the_umask(csv_file: Path, tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        run("embed", "x", "--encoder", "fake", "-o", str(tmp_path / "x.npy"))
        run("index", str(tmp_path / "space"), str(csv_file), "--encoder", "fake")
        run("export", str(tmp_path / "space"), "-o", str(tmp_path / "x.parquet"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.npy").stat().st_mode) == 0o664
    assert stat.S_IMODE((tmp_path / "space").stat().st_mode) == 0o775
    assert stat.S_IMODE((tmp_path / "x.parquet").stat().st_mode) == 0o664


def test_quick_index_prints_only_its_summary(csv_file: Path) -> None:
    result = run("index", "docs", str(csv_file), "--encoder", "fake")
    assert result.exit_code == 0 and result.stderr == ""  # no stray blank line
    assert result.stdout.startswith("Indexed 3 items into 'docs'")


def test_long_work_prints_progress_lines_when_stderr_is_not_a_terminal(
    csv_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.0)
    result = run("index", "docs", str(csv_file), "--encoder", "fake")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"Reading {csv_file}") for line in lines)
    assert "Indexing into docs: 3/3 (100%), 0 s, done" in lines
    assert all(line.strip() for line in lines)
    embedded = run("embed", "a", "b", "--encoder", "fake", "-o", str(csv_file.with_suffix(".npy")))
    assert "Embedding with fake: 2/2 (100%), 0 s, done" in embedded.stderr
    clustered = run("cluster", "docs", "-k", "2", "--json")
    last = clustered.stderr.splitlines()[-1]  # a ticker line every tick, then a final one
    assert last.startswith("Clustering 3 items: ") and last.endswith(" s, done")
    assert len(clustered.stdout.splitlines()) == 3


def test_progress_lines_are_periodic_and_silent_on_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 3600.0)
    with Progress("Quick", total=10, terminal=False) as bar:
        bar.advance(10)
    assert capsys.readouterr().err == ""  # nothing for work that takes no time
    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.0)
    with Progress("Counting", total=4, terminal=False) as bar:
        bar.advance(1)
        bar.advance(3)
    assert capsys.readouterr().err.splitlines()[-2:] == [
        "Counting: 4/4 (100%), 0 s",
        "Counting: 4/4 (100%), 0 s, done",
    ]
    with pytest.raises(ValueError), Progress("Failing", terminal=False):
        raise ValueError("boom")
    assert "done" not in capsys.readouterr().err


def test_index_into_a_json_space_reports_typed_csv_metadata(tmp_path: Path) -> None:
    file = tmp_path / "prices.csv"
    file.write_text("id,text,price,in_stock\n1,red shoe,249.50,true\n2,blue shoe,99,false\n")
    assert run("index", "shop", str(file), "--encoder", "fake").exit_code == 0
    with es.Space.open("shop") as space:
        item = space.get("1")
        assert item is not None
        assert item.metadata["price"] == 249.5 and item.metadata["in_stock"] is True
    rows = [json.loads(x) for x in run("items", "shop", "--json").stdout.splitlines()]
    assert [r["metadata"]["price"] for r in rows] == [249.5, 99.0]


def test_stages_end_in_order_and_an_interrupted_stage_carries_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from embedspace.cli.progress import Stages

    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(Progress, "_tick", lambda self: None)  # only the reports print
    with Stages(terminal=False) as report:
        report("Reading docs.csv", 0, None)
        report("Reading docs.csv", 300, None)
        report("Indexing into docs", 0, 4)
        report("Indexing into docs", 2, 4)
        report("Building the index", 0, 3)  # reported from inside a write
        report("Building the index", 3, 3)
        report("Indexing into docs", 4, 4)
    lines = [line.rsplit(", ", 1)[0] for line in capsys.readouterr().err.splitlines()]
    assert lines == [
        "Reading docs.csv: 0 s",
        "Reading docs.csv: 300",
        "Reading docs.csv: 300, 0 s",  # ended (", done") when indexing began
        "Indexing into docs: 0/4 (0%)",
        "Indexing into docs: 2/4 (50%)",
        "Building the index: 0/3 (0%)",
        "Building the index: 3/3 (100%)",
        "Building the index: 3/3 (100%), 0 s",
        "Indexing into docs: 4/4 (100%)",
        "Indexing into docs: 4/4 (100%), 0 s",
    ]


def test_the_demo_names_embedspace_as_it_was_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    import sys

    from embedspace.cli.output import typed_name

    monkeypatch.setattr(sys, "argv", [".venv/bin/embedspace", "demo"])
    monkeypatch.setattr(shutil, "which", lambda name: None)  # the venv is not active
    assert typed_name() == ".venv/bin/embedspace"
    monkeypatch.setattr(shutil, "which", lambda name: ".venv/bin/embedspace")  # it is
    assert typed_name() == "embedspace"
    monkeypatch.setattr(sys, "argv", ["/usr/lib/python3/pytest"])  # not the command at all
    assert typed_name() == "embedspace"
