from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embedspace.errors import InvalidInput
from embedspace.io import Record, Rejection, derive_id, read_records


def _all(path: Path, **kwargs: object) -> list[Record | Rejection]:
    return list(read_records(path, **kwargs))  # type: ignore[arg-type]


def test_csv_keeps_other_columns_as_metadata(tmp_path: Path) -> None:
    file = tmp_path / "h.csv"
    file.write_text("id,headline,topic\n1,Are Burritos the Next Taco?,food\n2,Rates rise,money\n")
    records = _all(file, text_fields=["headline"])
    assert records == [
        Record("1", "Are Burritos the Next Taco?", {"topic": "food"}),
        Record("2", "Rates rise", {"topic": "money"}),
    ]


def test_default_text_column_and_derived_ids(tmp_path: Path) -> None:
    file = tmp_path / "t.tsv"
    file.write_text("text\tlang\nhello world\ten\n")
    (record,) = _all(file)
    assert isinstance(record, Record)
    assert record.id == derive_id("hello world") and record.metadata == {"lang": "en"}


def test_jsonl_and_several_text_fields(tmp_path: Path) -> None:
    file = tmp_path / "d.jsonl"
    rows = [{"id": 7, "title": "T", "body": "B", "n": 1.5}]
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (record,) = _all(file, text_fields=["title", "body"])
    assert record == Record("7", "T\nB", {"n": 1.5})


def test_parquet(tmp_path: Path) -> None:
    file = tmp_path / "d.parquet"
    pq.write_table(pa.table({"key": ["a", "b"], "text": ["x y", "z"], "year": [2020, 2021]}), file)
    records = _all(file, id_field="key")
    assert [r.id for r in records if isinstance(r, Record)] == ["a", "b"]
    assert records[1] == Record("b", "z", {"year": 2021})


def test_plain_text_one_item_per_line(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("first line\n\n  second line  \n")
    assert [r.content for r in _all(file) if isinstance(r, Record)] == ["first line", "second line"]


def test_rows_without_text_or_id_are_rejected_with_their_row(tmp_path: Path) -> None:
    file = tmp_path / "bad.csv"
    file.write_text("id,text\n1,ok\n2,\n,orphan\n1,again\n")
    results = _all(file)
    reasons = [str(r) for r in results if isinstance(r, Rejection)]
    assert len(reasons) == 3
    assert "row 3: has no text in field 'text'" in reasons[0]
    assert "has no id" in reasons[1]
    assert "repeats id '1'" in reasons[2]


def test_invalid_json_line_is_a_rejection(tmp_path: Path) -> None:
    file = tmp_path / "bad.jsonl"
    file.write_text('{"text": "fine"}\n{not json}\n')
    results = _all(file)
    assert isinstance(results[0], Record) and isinstance(results[1], Rejection)
    assert results[1].row == 2


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "latin.txt"
    file.write_bytes("caf\u00e9\n".encode() + "na\u00efve\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match=r"not UTF-8: byte 0xef on line 2.*iconv"):
        _all(file)


def test_missing_file_and_missing_text_column(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="File not found"):
        _all(tmp_path / "nope.csv")
    file = tmp_path / "cols.csv"
    file.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInput, match=r"--text-field \(columns: a, b\)"):
        _all(file)


def test_vector_field(tmp_path: Path) -> None:
    file = tmp_path / "v.jsonl"
    file.write_text('{"text": "a", "vec": [1, 2, 3]}\n{"text": "b", "vec": "oops"}\n')
    good, bad = _all(file, vector_field="vec")
    assert (
        isinstance(good, Record) and good.vector is not None and good.vector.tolist() == [1, 2, 3]
    )
    assert isinstance(bad, Rejection) and "vec" in bad.reason
