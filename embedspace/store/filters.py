"""``where`` filters: conditions on metadata fields, turned into SQL with parameters only.

One form, a mapping from field to what it must be::

    where={"topic": "food"}                 # equals
    where={"year": [2020, 2021]}            # any of (the same as {"in": [2020, 2021]})
    where={"price": {"<": 300}}             # operators: ==  !=  <  <=  >  >=  in  not in
    where={"price": {">=": 10, "<": 300}}   # several on one field: all must hold
    where={"topic": None}                   # the field is missing or null

Every field must match (AND). Values compare by their type: numbers numerically, also with
numbers stored as text (``"249.50"`` from a CSV file equals ``249.5``); strings as strings
(``<`` orders them, which suits ISO dates); booleans match JSON ``true``/``false`` and the
strings "true"/"false" in any case. ``!=`` and ``not in`` also keep items that lack the
field. Field
names and values only ever reach SQLite as parameters.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedspace.errors import InvalidInput, did_you_mean
from embedspace.io.records import unicode_problem
from embedspace.store.database import NUMBER_FUNCTION

log = logging.getLogger("embedspace")

Scalar = str | int | float | bool | None
#: The operators of ``{"field": {operator: value}}``.
OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
_ORDERING = ("<", "<=", ">", ">=")
#: Items read to suggest field names when a field exists in no item.
_FIELD_SAMPLE = 2000

# A field's value as a number (JSON numbers, and text that reads as one), or as text.
# ``{t}`` and ``{v}`` are the field's JSON type and value (``_Field``), one parameter each.
_NUMBER = (
    "(CASE {t} WHEN 'integer' THEN {v} WHEN 'real' THEN {v} "
    f"WHEN 'text' THEN {NUMBER_FUNCTION}({{v}}) END)"
)
_TEXT = "(CASE {t} WHEN 'text' THEN {v} END)"
_IS_NULL = "COALESCE({t}, 'null') = 'null'"
_BOOLEAN = f"({{t}} = ? OR lower({_TEXT}) = ?)"
_ANY_OF = "(SELECT value FROM json_each(?))"
#: Numbers beyond this cannot be compared (SQLite reads such JSON numbers as infinity).
_LARGEST = 1.7976931348623157e308


@dataclass(frozen=True, slots=True)
class _Field:
    """How SQL reads one top-level metadata field: by JSON path for keys that are stored
    as written, else (keys with ``"``, ``\\`` or control characters, which SQLite paths
    cannot name) by looking the key up among the object's entries."""

    key: str

    @property
    def by_path(self) -> bool:
        return json.dumps(self.key, ensure_ascii=False)[1:-1] == self.key

    def sql(self, template: str) -> str:
        if self.by_path:
            kind, value = "json_type(metadata, ?)", "json_extract(metadata, ?)"
        else:
            kind = "(SELECT type FROM json_each(metadata) WHERE key = ?)"
            value = "(SELECT value FROM json_each(metadata) WHERE key = ?)"
        return template.format(t=kind, v=value)

    @property
    def param(self) -> str:
        return '$."' + self.key + '"' if self.by_path else self.key


def where_sql(where: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Turn a where mapping (see the module docstring) into a SQL condition on the
    ``items`` table and its parameters. Raises ``InvalidInput`` naming what is wrong."""
    if not isinstance(where, Mapping) or not where:
        raise InvalidInput("where must be a non-empty mapping of metadata field to value.")
    clauses: list[str] = []
    params: list[Any] = []
    for key, wanted in where.items():
        field = _Field(_key(key))
        for operator, operand in conditions(key, wanted):
            clause, values = _condition(field, operator, operand)
            clauses.append(clause)
            params.extend(values)
    return " AND ".join(clauses), params


def _key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"where keys must be non-empty strings, not {key!r}.")
    problem = unicode_problem(key)
    if problem:
        raise InvalidInput(f"The where key {key!r} holds {problem}; no field can have it.")
    return key


def conditions(key: str, wanted: Any) -> list[tuple[str, Any]]:
    """The ``(operator, operand)`` pairs one where entry stands for."""
    if isinstance(wanted, Mapping):
        if not wanted:
            raise InvalidInput(f"where['{key}'] is an empty mapping: give an operator and value.")
        for operator in wanted:
            if operator not in OPERATORS:
                raise InvalidInput(
                    f"Unknown operator {operator!r} in where['{key}']; use one of: "
                    f"{', '.join(OPERATORS)}."
                )
        return list(wanted.items())
    if isinstance(wanted, list | tuple | set | frozenset):
        return [("in", wanted)]
    return [("==", wanted)]


def _condition(field: _Field, operator: str, operand: Any) -> tuple[str, list[Any]]:
    key, path = field.key, field.param
    operand = _scalar(key, operand)
    if operator in ("in", "not in"):
        clause, values = _any_of(field, listed_operand(key, operator, operand))
        return (clause if operator == "in" else f"NOT COALESCE({clause}, 0)"), values
    if operator == "==":
        return _equal(field, operand)
    if operator == "!=":
        if operand is None:
            return "NOT " + field.sql(_IS_NULL), [path]
        clause, values = _equal(field, operand)
        return f"NOT COALESCE({clause}, 0)", values
    if _is_number(operand):
        return f"{field.sql(_NUMBER)} {operator} ?", [path] * 4 + [_sql_value(key, operand)]
    if isinstance(operand, str):
        return f"{field.sql(_TEXT)} {operator} ?", [path] * 2 + [operand]
    kind = "true/false or null" if operand is None or isinstance(operand, bool) else "this"
    raise InvalidInput(
        f"where['{key}'] {operator} {json.dumps(operand, default=repr)}: {operator} compares "
        f"numbers or strings, not {kind}."
    )


def listed_operand(key: str, operator: str, operand: Any) -> list[Any]:
    """The values of an ``in`` / ``not in`` condition, checked (a non-empty list)."""
    if isinstance(operand, str | bytes) or not isinstance(operand, list | tuple | set | frozenset):
        raise InvalidInput(f"where['{key}'] '{operator}' takes a list of values, not {operand!r}.")
    if not operand:
        raise InvalidInput(f"where['{key}'] has an empty list: give at least one value.")
    return [_scalar(key, value) for value in operand]


def _any_of(field: _Field, values: list[Any]) -> tuple[str, list[Any]]:
    """A field equal to any of ``values``: numbers and strings each in one ``IN`` over a
    JSON array (one parameter, however many values), booleans and None as equalities."""
    numbers = [_sql_value(field.key, v) for v in values if _is_number(v)]
    strings = [v for v in values if isinstance(v, str)]
    others = [v for v in values if not _is_number(v) and not isinstance(v, str)]
    for value in others:
        if value is not None and not isinstance(value, bool):
            _equal(field, value)  # raises: not a filter value
    alone: list[Any] = [v for v in (None, True, False) if any(o is v for o in others)]
    alone += sorted({n for n in numbers if math.isinf(n)})  # JSON has no infinity
    numbers = [n for n in numbers if not math.isinf(n)]
    parts = [_equal(field, v) for v in alone]
    path = field.param
    if len(numbers) == 1:
        parts.append(_equal(field, numbers[0]))
    elif numbers:
        parts.append((f"{field.sql(_NUMBER)} IN {_ANY_OF}", [path] * 4 + [json.dumps(numbers)]))
    if len(strings) == 1:
        parts.append(_equal(field, strings[0]))
    elif strings:
        parts.append((f"{field.sql(_TEXT)} IN {_ANY_OF}", [path] * 2 + [json.dumps(strings)]))
    return "(" + " OR ".join(p[0] for p in parts) + ")", [v for p in parts for v in p[1]]


def _equal(field: _Field, value: Any) -> tuple[str, list[Any]]:
    path = field.param
    if value is None:
        return field.sql(_IS_NULL), [path]
    if isinstance(value, bool):
        word = "true" if value else "false"
        return field.sql(_BOOLEAN), [path, word, path, path, word]
    if _is_number(value):
        return f"{field.sql(_NUMBER)} = ?", [path] * 4 + [_sql_value(field.key, value)]
    if isinstance(value, str):
        return f"{field.sql(_TEXT)} = ?", [path] * 2 + [value]
    raise InvalidInput(
        f"where['{field.key}'] = {value!r}: filter values must be strings, numbers, booleans "
        "or None."
    )


def _scalar(key: str, value: Any) -> Any:
    """``value`` with numpy scalars as plain Python ones; strings checked for Unicode."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and (problem := unicode_problem(value)):
        raise InvalidInput(f"where['{key}'] = {value!r} holds {problem}; nothing can match it.")
    return value


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and math.isnan(value):
        raise InvalidInput("where values cannot be NaN (nothing equals it): use None for missing.")
    return True


def _sql_value(key: str, number: int | float) -> int | float:
    if isinstance(number, int) and not -(2**63) <= number < 2**63:
        if abs(number) > _LARGEST:
            raise InvalidInput(
                f"where['{key}'] compares with a number of {len(str(abs(number)))} digits; "
                "numbers must be within ±1.8e308 to be compared."
            )
        return float(number)  # SQLite integers are 64-bit
    return number


def checks_presence(key: str, wanted: Any) -> bool:
    """Whether ``fields_in_no_item`` looks for ``key`` (not when it is only asked to be
    missing: ``{key: None}``)."""
    return not all(op == "==" and operand is None for op, operand in conditions(key, wanted))


def fields_in_no_item(connection: sqlite3.Connection, where: Mapping[str, Any]) -> list[str]:
    """The where fields that no item has (a typo, or a field the data never had).

    A field asked only to be missing (``None``) is not reported. One scan per field that
    stops at the first item that has it.
    """
    missing = []
    for key, wanted in where.items():
        if not checks_presence(key, wanted):
            continue
        field = _Field(_key(key))
        found = connection.execute(
            f"SELECT 1 FROM items WHERE {field.sql('{t}')} IS NOT NULL LIMIT 1", (field.param,)
        ).fetchone()
        if found is None:
            missing.append(key)
    return missing


def warn_fields_in_no_item(
    connection: sqlite3.Connection, where: Mapping[str, Any], space_name: str
) -> list[str]:
    """Log a warning (``embedspace`` logger) for each where field no item has, naming the
    closest field that exists; returns those fields."""
    missing = fields_in_no_item(connection, where)
    if not missing:
        return []
    known = sorted(
        row[0]
        for row in connection.execute(
            "SELECT DISTINCT field.key FROM (SELECT metadata FROM items LIMIT ?) AS sample, "
            "json_each(sample.metadata) AS field",
            (_FIELD_SAMPLE,),
        )
    )
    for key in missing:
        listed = ", ".join(known[:10]) + (", …" if len(known) > 10 else "")
        fields = f" Fields in this space: {listed}." if known else " Its items have no metadata."
        log.warning(
            "No item in space '%s' has the metadata field '%s'.%s%s",
            space_name,
            key,
            did_you_mean(key, known),
            fields,
        )
    return missing
