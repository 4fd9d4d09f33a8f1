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


def test_unterminated_quote_is_an_error_naming_its_line(tmp_path: Path) -> None:
    file = tmp_path / "q.csv"
    file.write_text('id,text\n1,fine\n2,"oops no closing quote\n3,merged\n4,also merged\n')
    with pytest.raises(InvalidInput, match=r"q.csv, line 3: a quoted field starts here"):
        _all(file)
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(b'id,text\r\n1,fine\r\n2,"also\r\nfine"\r\n3,"open\r\n')
    with pytest.raises(InvalidInput, match=r"line 5: a quoted field"):
        _all(crlf)


def test_closed_quotes_spanning_lines_and_stray_quotes_are_fine(tmp_path: Path) -> None:
    file = tmp_path / "ok.csv"
    file.write_text('id,text\n1,"two\nlines, and ""quotes"""\n2,a 5" screen\n3,"last"\n')
    assert [r.content for r in _all(file) if isinstance(r, Record)] == [
        'two\nlines, and "quotes"',
        'a 5" screen',
        "last",
    ]


def test_a_csv_cell_over_128_kb_is_read(tmp_path: Path) -> None:
    long_text = "word " * 60_000  # 300 KB in one cell
    file = tmp_path / "long.csv"
    file.write_text(f'id,text\n1,"{long_text}"\n')
    (record,) = _all(file)
    assert isinstance(record, Record) and record.content == long_text.strip()


def test_csv_metadata_columns_get_the_type_all_their_cells_have(tmp_path: Path) -> None:
    file = tmp_path / "typed.csv"
    file.write_text(
        "id,text,year,price,in_stock,zip,mixed,note\n"
        "007,a,2020,249.50,true,02139,1,x\n"
        "2,b,2021,10,FALSE,10001,one,\n"
        "3,c,,1e3,,94103,2,\n"
    )
    records = [r for r in _all(file) if isinstance(r, Record)]
    assert [r.id for r in records] == ["007", "2", "3"]  # ids stay text
    assert records[0].metadata == {
        "year": 2020,
        "price": 249.5,
        "in_stock": True,
        "zip": "02139",  # a leading zero keeps the column as text
        "mixed": "1",
        "note": "x",
    }
    assert records[1].metadata["in_stock"] is False and records[1].metadata["price"] == 10.0
    assert records[2].metadata["year"] is None and records[2].metadata["price"] == 1000.0
    assert records[2].metadata["note"] == ""
    number_text = tmp_path / "numbers.csv"
    number_text.write_text("text,n\n42,1\n")
    (only,) = _all(number_text)
    assert isinstance(only, Record) and only.content == "42" and only.metadata == {"n": 1}


def test_a_named_column_that_does_not_exist_lists_the_columns(tmp_path: Path) -> None:
    file = tmp_path / "h.csv"
    file.write_text("id,headline,topic\n1,Rates rise,money\n")
    with pytest.raises(InvalidInput, match=r"no column 'title' \(columns: id, headline, topic\)"):
        _all(file, text_fields=["title"])
    with pytest.raises(InvalidInput, match=r"no column 'key'.*--id-field"):
        _all(file, text_fields=["headline"], id_field="key")
    lines = tmp_path / "h.jsonl"
    lines.write_text('{"a": "x"}\n{"a": "y", "body": "text"}\n')
    first, second = _all(lines, text_fields=["body"])  # in some rows: those rows are rejected
    assert isinstance(first, Rejection) and isinstance(second, Record)


def test_binary_and_utf16_files_are_named_as_such(tmp_path: Path) -> None:
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InvalidInput, match="not a text file") as raised:
        _all(binary)
    assert "iconv" not in str(raised.value)
    utf16 = tmp_path / "u.txt"
    utf16.write_text("hello\n", encoding="utf-16")
    with pytest.raises(InvalidInput, match="UTF-16.*iconv -f utf-16"):
        _all(utf16)
    utf16.write_text("hello there, world\n", encoding="utf-16-le")  # no byte-order mark
    with pytest.raises(InvalidInput, match="is UTF-16 text.*iconv -f utf-16"):
        _all(utf16)
    spaced = tmp_path / "my notes.txt"
    spaced.write_text("hello\n", encoding="utf-32")  # its mark starts as UTF-16's does
    with pytest.raises(InvalidInput, match="is UTF-32 text") as raised:
        _all(spaced)
    # the whole path, quoted for the shell: the command works from any folder
    assert f"iconv -f utf-32 -t utf-8 '{spaced}' > '{tmp_path / 'my notes.utf8.txt'}'" in str(
        raised.value
    )


def test_a_metadata_column_of_objects_is_unpacked(tmp_path: Path) -> None:
    file = tmp_path / "export.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["a"],
                "content": ["x"],
                "metadata": [json.dumps({"topic": "pets", "year": 2020})],
            }
        ),
        file,
    )
    (record,) = _all(file)
    assert record == Record("a", "x", {"topic": "pets", "year": 2020})
    lines = tmp_path / "export.jsonl"
    lines.write_text('{"id": "b", "content": "y", "metadata": {"n": 1.5, "ok": true}}\n')
    (record,) = _all(lines)
    assert record == Record("b", "y", {"n": 1.5, "ok": True})


def test_a_folder_holds_text_files_and_images(tmp_path: Path) -> None:
    from PIL import Image

    from embedspace.io.folder_items import read_folder

    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("first note\n")
    (folder / "sub" / "b.md").write_text("# Second\n\nnote")
    (folder / "empty.txt").write_text("  \n")
    (folder / "blob.txt").write_bytes(b"\x00\x01\x02" * 100)
    (folder / "skip.csv").write_text("text\nnot read from a folder\n")
    (folder / ".hidden.txt").write_text("hidden")
    Image.new("RGB", (8, 8), (255, 0, 0)).save(folder / "red.png")
    found = list(read_folder(folder))
    records = {r.id: r for r in found if isinstance(r, Record)}
    assert sorted(records) == ["a.txt", "red.png", "sub/b.md"]
    assert records["a.txt"].content == "first note" and records["a.txt"].modality == "text"
    assert records["sub/b.md"].metadata["path"] == "sub/b.md"
    assert records["red.png"].modality == "image"
    reasons = sorted(str(r) for r in found if isinstance(r, Rejection))
    assert "blob.txt: is not a text file" in reasons[0] and "empty.txt: is empty" in reasons[1]


def test_a_jsonl_row_that_is_a_string_is_named_as_such_not_quoted_as_a_reason(
    tmp_path: Path,
) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text('"just a string"\n{"text": "ok"}\n{broken\n', encoding="utf-8")
    found = list(read_records(source))
    assert isinstance(found[0], Rejection) and "not an object" in str(found[0])
    assert "just a string" not in str(found[0])
    assert isinstance(found[2], Rejection) and "is not valid JSON" in str(found[2])
