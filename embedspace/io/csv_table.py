"""CSV and TSV tables: rows with their line numbers, an unterminated quote as an error (not
silently merged rows), cells of any size, and the types of metadata columns inferred.

CSV has no types: every cell is text. A metadata column whose every non-empty cell is an
integer becomes integers, one whose cells are all numbers becomes floats, and one of only
``true``/``false`` (any case) becomes booleans, so that ``--where price<10`` compares
numbers. Numbers with leading zeros (``007``, ZIP codes) keep the column as text, and an
empty cell in a typed column becomes null.
"""

from __future__ import annotations

import csv
import ctypes
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from embedspace.errors import InvalidInput

_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_INT64 = 1 << 63
#: The csv module's own limit is 128 KB per cell; a long document in one cell is fine.
FIELD_LIMIT = (1 << (8 * ctypes.sizeof(ctypes.c_long) - 1)) - 1


class RowProblem(str):
    """Why a row of a table could not be read (told apart from a row that is a string)."""


def csv_rows(file: Path, text: str, delimiter: str) -> Iterator[tuple[int, Any]]:
    """``(line, row)`` for each row (a dict by header name), or ``(line, problem)`` for a
    row with more fields than the header; ``line`` is where the row ends.

    Raises ``InvalidInput`` naming the line for malformed CSV, including a quote that
    opens a field and never closes (which would otherwise swallow every later row).
    """
    csv.field_size_limit(FIELD_LIMIT)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = following = 1  # the lines the last row read and the next one start on
    try:
        for row in reader:
            start, following = following, reader.line_num + 1
            extra = row.pop(None, None)  # type: ignore[call-overload]
            if extra:
                yield reader.line_num, RowProblem(f"has {len(extra)} more fields than the header")
            else:
                yield reader.line_num, row
    except csv.Error as error:
        raise InvalidInput(f"{file}, line {reader.line_num}: not valid CSV ({error}).") from None
    opened = _unclosed_quote(text, start, delimiter)
    if opened is not None:
        raise InvalidInput(
            f"{file}, line {opened}: a quoted field starts here and its closing quote is "
            "missing, so every later line would be read into it. Close the quote, or write "
            'a quote inside a quoted field as two ("").'
        )


def _unclosed_quote(text: str, start: int, delimiter: str) -> int | None:
    """The line of a quote left open at the end of ``text``, looking only at the last row
    (which starts on line ``start``); ``None`` when every quote is closed."""
    lines = io.StringIO(text, newline="").readlines()
    tail = "".join(lines[start - 1 :])
    quoted, at_field_start = False, True
    opened_at = 0
    position = 0
    while position < len(tail):
        char = tail[position]
        if quoted:
            if char == '"':
                if tail.startswith('"', position + 1):
                    position += 2
                    continue
                quoted = at_field_start = False
        elif char == '"' and at_field_start:
            quoted, opened_at = True, position
        else:
            at_field_start = char in (delimiter, "\n", "\r")
        position += 1
    if not quoted:
        return None
    return start + len(_NEWLINE.findall(tail, 0, opened_at))


def infer_types(
    rows: Iterable[Mapping[str, Any]], columns: Iterable[str]
) -> dict[str, Callable[[str], Any]]:
    """For each of ``columns`` whose values are all integers, numbers or booleans, the
    function that turns its text cells into that type (columns that stay text are left
    out)."""
    wanted = list(columns)
    kinds: dict[str, str | None] = dict.fromkeys(wanted, "")  # "" = no value seen yet
    for row in rows:
        for name in wanted:
            kind = kinds[name]
            if kind is None:
                continue
            value = row.get(name)
            if not isinstance(value, str) or not value.strip():
                continue
            kinds[name] = _widen(kind, value.strip())
    return {name: _CONVERTERS[kind] for name, kind in kinds.items() if kind}


def _widen(kind: str, value: str) -> str | None:
    """The narrowest type holding both what a column held so far and ``value``."""
    if kind in ("", "bool") and value.lower() in ("true", "false"):
        return "bool"
    if kind == "bool":
        return None
    if kind in ("", "int") and _INT.fullmatch(value) and -_INT64 <= int(value) < _INT64:
        return "int"
    if kind in ("", "int", "float") and _FLOAT.fullmatch(value) and math.isfinite(float(value)):
        return "float"
    return None


def _typed(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def cell(value: str) -> Any:
        text = value.strip() if isinstance(value, str) else value
        return convert(text) if text else None

    return cell


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "bool": _typed(lambda text: text.lower() == "true"),
    "int": _typed(int),
    "float": _typed(float),
}
