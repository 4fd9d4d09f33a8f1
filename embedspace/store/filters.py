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

import logging
import math
import sqlite3
from collections.abc import Mapping
from typing import Any

from embedspace.errors import InvalidInput, did_you_mean
from embedspace.store.database import NUMBER_FUNCTION

log = logging.getLogger("embedspace")

Scalar = str | int | float | bool | None
#: The operators of ``{"field": {operator: value}}``.
OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
_ORDERING = ("<", "<=", ">", ">=")
#: Items read to suggest field names when a field exists in no item.
_FIELD_SAMPLE = 2000

# A field's value as a number (JSON numbers, and text that reads as one), or as text.
_NUMBER = (
    "(CASE json_type(metadata, ?) WHEN 'integer' THEN json_extract(metadata, ?) "
    "WHEN 'real' THEN json_extract(metadata, ?) "
    f"WHEN 'text' THEN {NUMBER_FUNCTION}(json_extract(metadata, ?)) END)"
)
_TEXT = "(CASE json_type(metadata, ?) WHEN 'text' THEN json_extract(metadata, ?) END)"
_IS_NULL = "COALESCE(json_type(metadata, ?), 'null') = 'null'"
_BOOLEAN = f"(json_type(metadata, ?) = ? OR lower({_TEXT}) = ?)"


def where_sql(where: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Turn a where mapping (see the module docstring) into a SQL condition on the
    ``items`` table and its parameters. Raises ``InvalidInput`` naming what is wrong."""
    if not isinstance(where, Mapping) or not where:
        raise InvalidInput("where must be a non-empty mapping of metadata field to value.")
    clauses: list[str] = []
    params: list[Any] = []
    for key, wanted in where.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"where keys must be non-empty strings, not {key!r}.")
        path = '$."' + key.replace('"', '\\"') + '"'
        for operator, operand in conditions(key, wanted):
            clause, values = _condition(path, key, operator, operand)
            clauses.append(clause)
            params.extend(values)
    return " AND ".join(clauses), params


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


def _condition(path: str, key: str, operator: str, operand: Any) -> tuple[str, list[Any]]:
    if operator in ("in", "not in"):
        if isinstance(operand, str | bytes) or not isinstance(
            operand, list | tuple | set | frozenset
        ):
            raise InvalidInput(
                f"where['{key}'] '{operator}' takes a list of values, not {operand!r}."
            )
        if not operand:
            raise InvalidInput(f"where['{key}'] has an empty list: give at least one value.")
        parts = [_equal(path, key, value) for value in operand]
        clause = "(" + " OR ".join(p[0] for p in parts) + ")"
        values = [v for p in parts for v in p[1]]
        return (clause if operator == "in" else f"NOT COALESCE({clause}, 0)"), values
    if operator == "==":
        return _equal(path, key, operand)
    if operator == "!=":
        if operand is None:
            return f"NOT {_IS_NULL}", [path]
        clause, values = _equal(path, key, operand)
        return f"NOT COALESCE({clause}, 0)", values
    if _is_number(operand):
        return f"{_NUMBER} {operator} ?", [path] * 4 + [_sql_value(operand)]
    if isinstance(operand, str):
        return f"{_TEXT} {operator} ?", [path] * 2 + [operand]
    raise InvalidInput(
        f"where['{key}'] {{{operator!r}: {operand!r}}}: {operator} compares numbers or strings."
    )


def _equal(path: str, key: str, value: Any) -> tuple[str, list[Any]]:
    if value is None:
        return _IS_NULL, [path]
    if isinstance(value, bool):
        word = "true" if value else "false"
        return _BOOLEAN, [path, word, path, path, word]
    if _is_number(value):
        return f"{_NUMBER} = ?", [path] * 4 + [_sql_value(value)]
    if isinstance(value, str):
        return f"{_TEXT} = ?", [path] * 2 + [value]
    raise InvalidInput(
        f"where['{key}'] = {value!r}: filter values must be strings, numbers, booleans or None."
    )


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and math.isnan(value):
        raise InvalidInput("where values cannot be NaN (nothing equals it): use None for missing.")
    return True


def _sql_value(number: int | float) -> int | float:
    if isinstance(number, int) and not -(2**63) <= number < 2**63:
        return float(number)  # SQLite integers are 64-bit
    return number


def fields_in_no_item(connection: sqlite3.Connection, where: Mapping[str, Any]) -> list[str]:
    """The where fields that no item has (a typo, or a field the data never had).

    A field asked only to be missing (``None``) is not reported. One scan per field that
    stops at the first item that has it.
    """
    missing = []
    for key, wanted in where.items():
        if all(op == "==" and operand is None for op, operand in conditions(key, wanted)):
            continue
        path = '$."' + key.replace('"', '\\"') + '"'
        found = connection.execute(
            "SELECT 1 FROM items WHERE json_type(metadata, ?) IS NOT NULL LIMIT 1", (path,)
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
