"""Readers for CSV/TSV, JSON Lines, JSON, Parquet and plain text (one item per line).

Each reader yields ``Record`` or ``Rejection`` values in file order, so a caller can stop at
the first bad row (the default of ``embedspace index``) or count and skip them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.errors import InvalidInput
from embedspace.io.records import Record, derive_id

#: Columns tried, in order, when no ``text_fields`` are named.
DEFAULT_TEXT_FIELDS = ("text", "content", "body", "sentence", "headline", "title")
TEXT_SUFFIXES = {".txt", ".text", ".md", ""}
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row (or, with ``row`` 0, a whole file) that could not become a Record, and why."""

    path: str
    row: int
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}, row {self.row}" if self.row else self.path
        return f"{where}: {self.reason}"


def read_records(
    path: str | Path,
    *,
    text_fields: Sequence[str] = (),
    id_field: str | None = None,
    vector_field: str | None = None,
) -> Iterator[Record | Rejection]:
    """Yield a Record (or a Rejection) per item in ``path``.

    The format follows the suffix: ``.csv``/``.tsv``, ``.jsonl``/``.ndjson``, ``.json``
    (a list of objects), ``.parquet``, anything else is plain text with one item per line.
    For tabular files, ``text_fields`` (joined by newlines when several) default to the
    first of ``text, content, body, sentence, headline, title`` present; ``id_field``
    defaults to ``id`` when present, else ids derive from the content hash; other columns
    become metadata. Raises ``InvalidInput`` for a missing or unreadable file, or one that
    is not UTF-8 (with the line of the first bad byte).
    """
    file = Path(path)
    if not file.exists():
        raise InvalidInput(f"File not found: {file}. Check the path.")
    if file.is_dir():
        raise InvalidInput(f"{file} is a folder; name the files to read (e.g. {file}/*.csv).")
    rows = _table_rows(file)
    if rows is None:
        yield from _text_records(file, _decode(file))
        return
    yield from _tabular_records(file, rows, tuple(text_fields), id_field, vector_field)


def read_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row number, row)`` for each row of a CSV/TSV, JSONL, JSON or Parquet file,
    for inputs that are tables rather than texts to embed (pairs, interactions).

    Raises ``InvalidInput`` for a missing or unreadable file, a row that is not an object,
    or a plain-text file.
    """
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"File not found: {file}. Check the path.")
    rows = _table_rows(file)
    if rows is None:
        raise InvalidInput(f"{file}: expected a table (.csv, .tsv, .jsonl, .json or .parquet).")
    for number, row in rows:
        if not isinstance(row, dict):
            problem = row if isinstance(row, str) else "is not an object"
            raise InvalidInput(f"{file}, row {number}: {problem}.")
        yield number, row


def _table_rows(file: Path) -> Iterator[tuple[int, Any]] | None:
    """``(row number, row or problem)`` of a tabular file, by suffix; ``None`` for text."""
    suffix = file.suffix.lower()
    if suffix == ".parquet":
        return _parquet_rows(file)
    if suffix in CSV_SUFFIXES:
        return _csv_rows(file, _decode(file), CSV_SUFFIXES[suffix])
    if suffix in JSONL_SUFFIXES:
        return _jsonl_rows(file, _decode(file))
    if suffix == ".json":
        return _json_rows(file, _decode(file))
    return None


def _decode(file: Path) -> str:
    data = file.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InvalidInput(
            f"{file} is not UTF-8: byte 0x{data[error.start]:02x} on line {line}. "
            f"Convert it first, e.g. iconv -f latin1 -t utf-8 {file.name} > {file.stem}.utf8"
            f"{file.suffix}"
        ) from None


def _text_records(file: Path, text: str) -> Iterator[Record | Rejection]:
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.strip()
        if content:
            yield Record(id=derive_id(content), content=content, metadata={"line": number})


def _csv_rows(file: Path, text: str, delimiter: str) -> Iterator[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            extra = row.pop(None, None)  # type: ignore[call-overload]
            if extra:
                yield reader.line_num, f"has {len(extra)} more fields than the header"
            else:
                yield reader.line_num, row
    except csv.Error as error:
        raise InvalidInput(f"{file}, line {reader.line_num}: not valid CSV ({error}).") from None


def _jsonl_rows(file: Path, text: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            yield number, f"is not valid JSON ({error.msg})"


def _json_rows(file: Path, text: str) -> Iterator[tuple[int, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{file} is not valid JSON: {error}.") from None
    if not isinstance(data, list):
        raise InvalidInput(f"{file} must hold a JSON list of objects (or use .jsonl).")
    yield from enumerate(data, start=1)


def _parquet_rows(file: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(file)
    except Exception as error:  # pyarrow raises several types for a bad file
        raise InvalidInput(f"{file} is not a readable Parquet file: {error}.") from None
    yield from enumerate(table.to_pylist(), start=1)


def _tabular_records(
    file: Path,
    rows: Iterator[tuple[int, Any]],
    text_fields: tuple[str, ...],
    id_field: str | None,
    vector_field: str | None,
) -> Iterator[Record | Rejection]:
    fields: tuple[str, ...] | None = text_fields or None
    id_column = id_field
    seen_ids: dict[str, int] = {}
    first_row: int | None = None
    for number, row in rows:
        first_row = number if first_row is None else first_row
        if isinstance(row, str):
            yield Rejection(str(file), number, row)
            continue
        if not isinstance(row, dict):
            yield Rejection(str(file), number, "is not an object with named fields")
            continue
        if fields is None:
            fields = _choose_text_fields(file, row)
        if id_column is None and number == first_row and "id" in row:
            id_column = "id"
        record = _row_record(file, number, row, fields, id_column, vector_field)
        if isinstance(record, Record):
            first = seen_ids.setdefault(record.id, number)
            if first != number:
                record = Rejection(str(file), number, f"repeats id '{record.id}' (row {first})")
        yield record


def _choose_text_fields(file: Path, row: dict[str, Any]) -> tuple[str, ...]:
    for name in DEFAULT_TEXT_FIELDS:
        if name in row:
            return (name,)
    raise InvalidInput(
        f"{file} has no column named {', '.join(DEFAULT_TEXT_FIELDS)}; choose the text with "
        f"--text-field (columns: {', '.join(map(str, row))})."
    )


def _row_record(
    file: Path,
    number: int,
    row: dict[str, Any],
    fields: tuple[str, ...],
    id_column: str | None,
    vector_field: str | None,
) -> Record | Rejection:
    parts = []
    for name in fields:
        value = row.get(name)
        if _is_blank(value):
            return Rejection(str(file), number, f"has no text in field '{name}'")
        parts.append(str(value).strip())
    content = "\n".join(parts)
    if id_column is not None:
        raw_id = row.get(id_column)
        if _is_blank(raw_id):
            return Rejection(str(file), number, f"has no id in field '{id_column}'")
        item_id = str(raw_id).strip()
    else:
        item_id = derive_id(content)
    vector = None
    if vector_field is not None:
        vector_or_reason = _parse_vector(row.get(vector_field), vector_field)
        if isinstance(vector_or_reason, str):
            return Rejection(str(file), number, vector_or_reason)
        vector = vector_or_reason
    skip = {*fields, id_column, vector_field}
    metadata = {key: _jsonable(value) for key, value in row.items() if key not in skip}
    return Record(id=item_id, content=content, metadata=metadata, vector=vector)


def _parse_vector(value: Any, field: str) -> np.ndarray | str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return f"field '{field}' is not a JSON list of numbers"
    try:
        vector = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        return f"field '{field}' is not a list of numbers"
    if vector.ndim != 1 or vector.size == 0 or not np.isfinite(vector).all():
        return f"field '{field}' must be a non-empty list of finite numbers"
    return vector


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
