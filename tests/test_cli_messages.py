"""What the CLI says when something is wrong, or when all is well: one accurate line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import fail, run


@pytest.fixture
def faq(tmp_path: Path) -> Path:
    file = tmp_path / "faq.csv"
    with file.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "answer"])
        writer.writerow(["how do I reset my password", "Use the 'forgot password' link."])
        writer.writerow(["what are your opening hours", "9 to 5, Monday to Friday."])
        writer.writerow(["where is the office", "Main Street 1."])
        writer.writerow(["how do I change my password", "Under Settings, Security."])
    run("index", "faq", str(file), "--text-field", "question", "--encoder", "fake")
    return file


def test_a_missing_text_field_names_the_columns_not_a_row(faq: Path) -> None:
    message = fail("index", "x", str(faq), "--text-field", "headline", "--encoder", "fake")
    assert "has no column 'headline' (columns: question, answer)" in message
    assert "row" not in message


def test_a_binary_file_is_not_given_iconv_advice(tmp_path: Path) -> None:
    binary = tmp_path / "photo.raw"
    binary.write_bytes(b"\x00\x01\x02\x03" * 1000)
    message = fail("index", "x", str(binary), "--encoder", "fake")
    assert "is not a text file (it holds binary data)" in message and "iconv" not in message


def test_an_unterminated_quote_stops_index_naming_the_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.csv"
    file.write_text('id,text\n1,fine\n2,"no end\n3,would be swallowed\n')
    message = fail("index", "x", str(file), "--encoder", "fake")
    assert "broken.csv, line 3: a quoted field starts here" in message


def test_an_empty_folder_says_what_it_looks_for(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "table.csv").write_text("text\nhello\n")
    message = fail("index", "x", str(tmp_path / "data"), "--encoder", "fake")
    assert "no readable images" in message and "text files (.txt, .md)" in message


@pytest.mark.parametrize(
    "command",
    [
        ["search", "faq", "password"],
        ["similar", "faq", "x"],
        ["ask", "faq", "password"],
        ["dedup", "faq"],
        ["outliers", "faq"],
        ["words", "neighbors", "cat"],
        ["words", "analogy", "a", "b", "c"],
        ["recommend", ".", "--user", "1"],
    ],
)
@pytest.mark.parametrize("k", ["0", "-1"])
def test_a_bad_k_is_one_error_line(faq: Path, command: list[str], k: str) -> None:
    message = fail(*command, "-k", k)
    assert f"Invalid value for '-k': {k} is not in the range x>=1." in message
    assert "--help" in message


def test_bad_values_of_other_options_are_one_line_too(faq: Path) -> None:
    assert "x>=2" in fail("cluster", "faq", "-k", "1")
    assert "'--metric'" in fail("similarity", "a", "b", "--metric", "manhattan")


def test_a_malformed_command_line_still_shows_the_usage() -> None:
    result = run("search")
    assert result.exit_code == 2 and "Usage:" in result.stderr


def test_one_item_is_singular(tmp_path: Path) -> None:
    file = tmp_path / "one.txt"
    file.write_text("just one line\n")
    result = run("index", "one", str(file), "--encoder", "fake")
    assert result.stdout.startswith("Indexed 1 item into 'one'") and result.stderr == ""


def test_ask_shows_k_answers(faq: Path) -> None:
    shown = run("ask", "faq", "how do I reset my password").stdout.splitlines()
    assert shown[0] == "Use the 'forgot password' link."
    assert shown[2] == "Other answers:" and len(shown) == 5  # best + 2 others (k = 3)
    assert "Under Settings, Security." in "\n".join(shown[3:])
    one = run("ask", "faq", "how do I reset my password", "-k", "1").stdout.splitlines()
    assert len(one) == 2


def test_interrupting_says_what_is_kept(faq: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import embedspace.cli.index_cmd
    import embedspace.ops.cluster

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(embedspace.cli.index_cmd, "ingest", interrupt)
    monkeypatch.setattr(embedspace.ops.cluster, "cluster", interrupt)
    indexing = run("index", "faq", str(faq))
    assert indexing.exit_code == 130 and "Batches already written are kept" in indexing.stderr
    clustering = run("cluster", "faq", "-k", "2")
    assert clustering.exit_code == 130 and clustering.stderr.strip() == "Interrupted."
