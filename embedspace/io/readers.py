"""Readers for CSV/TSV, JSON Lines, JSON, Parquet and plain text (one item per line).

Each reader yields ``Record`` or ``Rejection`` values in file order, so a caller can stop at
the first bad row (the default of ``embedspace index``) or count and skip them.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.errors import InvalidInput
from embedspace.io.csv_table import RowProblem, csv_rows, infer_types
from embedspace.io.records import Record, Rejection, derive_id, unicode_problem

#: Columns tried, in order, when no ``text_fields`` are named.
DEFAULT_TEXT_FIELDS = ("text", "content", "body", "sentence", "headline", "title")
TEXT_SUFFIXES = {".txt", ".text", ".md", ""}
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
#: A column of this name holding objects (as ``embedspace export`` writes) is unpacked into
#: the metadata instead of being kept as one field.
METADATA_COLUMN = "metadata"
_SNIFF_BYTES = 8192
_FORMATS = (
    "embedspace reads CSV/TSV, JSONL, JSON, Parquet, plain text (.txt, .md) and images "
    "(.jpg, .jpeg, .png, .webp, .gif, .bmp); convert the file to one of these."
)


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
    become metadata (a ``metadata`` column of objects is unpacked into it; CSV columns get
    the types their cells all have: integers, numbers or booleans). Raises
    ``InvalidInput`` for a missing or unreadable file, a binary file, one that is not UTF-8
    (with the line of the first bad byte), or a named column that the file does not have.
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
    typed = file.suffix.lower() in CSV_SUFFIXES
    yield from _tabular_records(file, list(rows), tuple(text_fields), id_field, vector_field, typed)


def read_text_file(file: Path, root: Path) -> Record | Rejection:
    """A whole text file (in a folder being indexed) as one Record: its id is the path
    relative to ``root``; a binary, non-UTF-8 or empty file is a Rejection."""
    try:
        content = _decode(file).strip()
    except (InvalidInput, OSError) as error:
        reason = str(error).removeprefix(f"{file} ") if isinstance(error, InvalidInput) else ""
        return Rejection(str(file), 0, reason or f"cannot be read ({error})")
    if not content:
        return Rejection(str(file), 0, "is empty")
    from embedspace.io.images import file_facts

    relative = file.relative_to(root).as_posix()
    return Record(id=relative, content=content, metadata={"path": relative, **file_facts(file)})


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
            problem = row if isinstance(row, RowProblem) else "is not an object"
            raise InvalidInput(f"{file}, row {number}: {problem}.")
        yield number, row


def _table_rows(file: Path) -> Iterator[tuple[int, Any]] | None:
    """``(row number, row or problem)`` of a tabular file, by suffix; ``None`` for text."""
    suffix = file.suffix.lower()
    if suffix == ".parquet":
        return _parquet_rows(file)
    if suffix in CSV_SUFFIXES:
        return csv_rows(file, _decode(file), CSV_SUFFIXES[suffix])
    if suffix in JSONL_SUFFIXES:
        return _jsonl_rows(file, _decode(file))
    if suffix == ".json":
        return _json_rows(file, _decode(file))
    return None


def _decode(file: Path) -> str:
    return decode_text(file.read_bytes(), file)


def decode_text(data: bytes, source: Path | None, expected: str = _FORMATS) -> str:
    """``data``, the bytes of the file ``source`` (``None``: standard input), as text:
    UTF-8, a byte-order mark dropped. ``InvalidInput`` says what it is instead (UTF-16,
    another character set, with the line of the first bad byte) and the ``iconv`` command
    that converts it, or that it is not text at all, then what is ``expected``."""
    where = "standard input" if source is None else str(source)
    head = data[:_SNIFF_BYTES]
    wide = _wide_encoding(head)
    if wide is not None:
        raise InvalidInput(
            f"{where} is {wide} text; embedspace reads UTF-8. Convert it first, e.g. "
            f"{_iconv(wide.lower(), source)}"
        )
    control = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13, 27))
    if b"\0" in head or control > len(head) * 0.1:
        raise InvalidInput(f"{where} is not a text file (it holds binary data). {expected}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InvalidInput(
            f"{where} is not UTF-8: byte 0x{data[error.start]:02x} on line {line}. Convert "
            f"it first, e.g. {_iconv('latin1', source)}"
        ) from None


def _wide_encoding(head: bytes) -> str | None:
    """ "UTF-32" or "UTF-16" when ``head`` starts with that encoding's byte-order mark, or
    (UTF-16 without one) when most of its even or odd bytes are zeros, as in text of
    Latin letters stored two bytes each; else ``None``."""
    if head.startswith((b"\xff\xfe\0\0", b"\0\0\xfe\xff")):
        return "UTF-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    pairs = len(head) // 2
    if pairs >= 4:
        zeros = (head[0 : 2 * pairs : 2].count(0), head[1 : 2 * pairs : 2].count(0))
        if max(zeros) > 0.8 * pairs and min(zeros) < 0.1 * pairs:
            return "UTF-16"
    return None


def _iconv(charset: str, source: Path | None) -> str:
    """The command that converts ``source`` (``None``: standard input) to UTF-8."""
    if source is None:
        return f"... | iconv -f {charset} -t utf-8 | embedspace ..."
    target = source.with_name(f"{source.stem}.utf8{source.suffix}")
    return f"iconv -f {charset} -t utf-8 {shlex.quote(str(source))} > {shlex.quote(str(target))}"


def _text_records(file: Path, text: str) -> Iterator[Record | Rejection]:
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.strip()
        if content:
            yield Record(id=derive_id(content), content=content, metadata={"line": number})


def _jsonl_rows(file: Path, text: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            yield number, RowProblem(f"is not valid JSON ({error.msg})")


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


@dataclass(frozen=True, slots=True)
class _Columns:
    """Which columns of a table hold the text, the id and the vector, and how the
    metadata columns' cells are typed (CSV only)."""

    text: tuple[str, ...]
    id: str | None
    vector: str | None
    types: dict[str, Callable[[str], Any]]


def _tabular_records(
    file: Path,
    rows: list[tuple[int, Any]],
    text_fields: tuple[str, ...],
    id_field: str | None,
    vector_field: str | None,
    typed: bool,
) -> Iterator[Record | Rejection]:
    objects = [row for _, row in rows if isinstance(row, dict)]
    columns = _columns(file, objects, text_fields, id_field, vector_field, typed)
    seen_ids: dict[str, int] = {}
    for number, row in rows:
        if isinstance(row, RowProblem):
            yield Rejection(str(file), number, row)
            continue
        if not isinstance(row, dict):
            yield Rejection(str(file), number, "is not an object with named fields")
            continue
        record = _row_record(file, number, row, columns)
        if isinstance(record, Record):
            first = seen_ids.setdefault(record.id, number)
            if first != number:
                record = Rejection(str(file), number, f"repeats id '{record.id}' (row {first})")
        yield record


def _columns(
    file: Path,
    rows: list[dict[str, Any]],
    text_fields: tuple[str, ...],
    id_field: str | None,
    vector_field: str | None,
    typed: bool,
) -> _Columns:
    """Check that every named column exists (in at least one row), choose the defaults."""
    names = list(dict.fromkeys(str(key) for row in rows for key in row))
    if not rows:
        return _Columns(text_fields or DEFAULT_TEXT_FIELDS[:1], id_field, vector_field, {})
    listed = ", ".join(names)
    for option, wanted in (
        ("--text-field", text_fields),
        ("--id-field", (id_field,) if id_field else ()),
        ("--vector-field", (vector_field,) if vector_field else ()),
    ):
        for name in wanted:
            if name not in names:
                raise InvalidInput(
                    f"{file} has no column '{name}' (columns: {listed}); name one of these "
                    f"with {option}."
                )
    fields = text_fields or _default_text_field(file, names)
    id_column = id_field or ("id" if "id" in names else None)
    types: dict[str, Callable[[str], Any]] = {}
    if typed:
        plain = {*fields, id_column, vector_field, METADATA_COLUMN}
        types = infer_types(rows, [n for n in names if n not in plain])
    return _Columns(fields, id_column, vector_field, types)


def _default_text_field(file: Path, names: list[str]) -> tuple[str, ...]:
    for name in DEFAULT_TEXT_FIELDS:
        if name in names:
            return (name,)
    raise InvalidInput(
        f"{file} has no column named {', '.join(DEFAULT_TEXT_FIELDS)}; choose the text with "
        f"--text-field (columns: {', '.join(names)})."
    )


class _BadRow(Exception):
    """Why a row cannot become a Record (caught in ``_row_record``, made a Rejection)."""


def _row_text(row: dict[str, Any], columns: _Columns) -> str:
    """The row's text: its text fields joined by newlines."""
    parts = []
    for name in columns.text:
        value = row.get(name)
        if _is_blank(value):
            raise _BadRow(f"has no text in field '{name}'")
        if isinstance(value, dict | list):
            kind = "an object" if isinstance(value, dict) else "a list"
            raise _BadRow(f"has {kind} in field '{name}', not text")
        parts.append(str(value).strip())
    return "\n".join(parts)


def _row_id(row: dict[str, Any], column: str) -> str:
    """The row's id from ``column``: a string or an integer."""
    raw_id = row.get(column)
    if _is_blank(raw_id):
        raise _BadRow(f"has no id in field '{column}'")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        raise _BadRow(f"has the id {_clip(raw_id)} in '{column}'; ids are strings or integers")
    return str(raw_id).strip()


def _row_record(
    file: Path, number: int, row: dict[str, Any], columns: _Columns
) -> Record | Rejection:
    try:
        content = _row_text(row, columns)
        item_id = _row_id(row, columns.id) if columns.id is not None else derive_id(content)
    except _BadRow as bad:
        return Rejection(str(file), number, str(bad))
    problem = unicode_problem(content) or unicode_problem(item_id) or unicode_problem(row)
    if problem:
        return Rejection(str(file), number, f"holds {problem}")
    vector = None
    if columns.vector is not None:
        vector_or_reason = _parse_vector(row.get(columns.vector), columns.vector)
        if isinstance(vector_or_reason, str):
            return Rejection(str(file), number, vector_or_reason)
        vector = vector_or_reason
    skip = {*columns.text, columns.id, columns.vector}
    metadata = {}
    for key, value in row.items():
        if key in skip:
            continue
        if key == METADATA_COLUMN and isinstance(unpacked := _object(value), dict):
            metadata.update({str(k): _jsonable(v) for k, v in unpacked.items()})
            continue
        convert = columns.types.get(key)
        metadata[key] = convert(value) if convert is not None else _jsonable(value)
    return Record(id=item_id, content=content, metadata=metadata, vector=vector)


def _object(value: Any) -> Any:
    """``value`` itself, or the JSON object a string holds (how Parquet and CSV carry a
    ``metadata`` column)."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _parse_vector(value: Any, field: str) -> np.ndarray | str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return f"field '{field}' is not a JSON list of numbers"
    if isinstance(value, list) and any(isinstance(v, bool) for v in value):
        return f"field '{field}' holds true/false values; a vector is a list of numbers"
    try:
        with np.errstate(over="ignore"):
            vector = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        return f"field '{field}' is not a list of numbers"
    if vector.ndim != 1 or vector.size == 0 or not np.isfinite(vector).all():
        return (
            f"field '{field}' must be a non-empty list of finite numbers (within float32's "
            "range, ±3.4e38)"
        )
    return vector


def _clip(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
