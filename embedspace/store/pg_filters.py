"""``where`` filters for PostgreSQL spaces: the same mapping, the same meaning as
``store.filters`` (SQLite), over a ``jsonb`` metadata column, with parameters only.

Values compare by their type, as in SQLite spaces: numbers numerically (also numbers stored
as text, through the ``embedspace_number`` function ``postgres`` installs, which reads text
exactly as ``database.NUMBER`` does), strings as strings in byte order (``COLLATE "C"``,
as SQLite's default), booleans as JSON ``true``/``false`` and the strings "true"/"false";
``!=`` and ``not in`` also keep items that lack the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from embedspace.errors import InvalidInput
from embedspace.store.filters import (
    _is_number,
    _key,
    _scalar,
    _sql_value,
    conditions,
    listed_operand,
)

_KIND = "jsonb_typeof(metadata -> %s)"
_NUMBER = (
    f"(CASE {_KIND} WHEN 'number' THEN (metadata ->> %s)::float8 "
    f"WHEN 'string' THEN embedspace_number(metadata ->> %s) END)"
)
_TEXT = f"(CASE {_KIND} WHEN 'string' THEN (metadata ->> %s) END) COLLATE \"C\""
_IS_NULL = f"COALESCE({_KIND}, 'null') = 'null'"
_BOOLEAN = f"(({_KIND} = 'boolean' AND metadata ->> %s = %s) OR lower({_TEXT}) = %s)"


def where_pg(where: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """A where mapping as a PostgreSQL condition on ``metadata`` and its parameters."""
    if not isinstance(where, Mapping) or not where:
        raise InvalidInput("where must be a non-empty mapping of metadata field to value.")
    clauses: list[str] = []
    params: list[Any] = []
    for key, wanted in where.items():
        field = _key(key)
        for operator, operand in conditions(key, wanted):
            clause, values = _condition(field, operator, operand)
            clauses.append(clause)
            params.extend(values)
    return " AND ".join(clauses), params


def _condition(key: str, operator: str, operand: Any) -> tuple[str, list[Any]]:
    operand = _scalar(key, operand)
    if operator in ("in", "not in"):
        clause, values = _any_of(key, listed_operand(key, operator, operand))
        return (clause if operator == "in" else f"NOT COALESCE({clause}, false)"), values
    if operator == "==":
        return _equal(key, operand)
    if operator == "!=":
        if operand is None:
            return f"NOT {_IS_NULL}", [key]
        clause, values = _equal(key, operand)
        return f"NOT COALESCE({clause}, false)", values
    if _is_number(operand):
        return f"{_NUMBER} {operator} %s", [key] * 3 + [float(_sql_value(key, operand))]
    if isinstance(operand, str):
        return f'{_TEXT} {operator} %s COLLATE "C"', [key] * 2 + [operand]
    kind = "true/false or null" if operand is None or isinstance(operand, bool) else "this"
    raise InvalidInput(
        f"where['{key}'] {operator} {json.dumps(operand, default=repr)}: {operator} compares "
        f"numbers or strings, not {kind}."
    )


def _any_of(key: str, values: list[Any]) -> tuple[str, list[Any]]:
    numbers = [float(_sql_value(key, v)) for v in values if _is_number(v)]
    strings = [v for v in values if isinstance(v, str)]
    others = [v for v in values if not _is_number(v) and not isinstance(v, str)]
    for value in others:
        if value is not None and not isinstance(value, bool):
            _equal(key, value)  # raises: not a filter value
    parts = [_equal(key, v) for v in (None, True, False) if any(o is v for o in others)]
    parts += [_equal(key, n) for n in sorted({n for n in numbers if math.isinf(n)})]
    finite = [n for n in numbers if not math.isinf(n)]
    if finite:
        parts.append((f"{_NUMBER} = ANY(%s::float8[])", [key] * 3 + [finite]))
    if strings:
        parts.append((f"{_TEXT} = ANY(%s::text[])", [key] * 2 + [strings]))
    return "(" + " OR ".join(p[0] for p in parts) + ")", [v for p in parts for v in p[1]]


def _equal(key: str, value: Any) -> tuple[str, list[Any]]:
    if value is None:
        return _IS_NULL, [key]
    if isinstance(value, bool):
        word = "true" if value else "false"
        return _BOOLEAN, [key, key, word, key, key, word]
    if _is_number(value):
        return f"{_NUMBER} = %s", [key] * 3 + [float(_sql_value(key, value))]
    if isinstance(value, str):
        return f"{_TEXT} = %s", [key] * 2 + [value]
    raise InvalidInput(
        f"where['{key}'] = {value!r}: filter values must be strings, numbers, booleans or None."
    )
