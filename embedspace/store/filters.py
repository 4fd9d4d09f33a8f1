"""``where`` filters: metadata equality (a value, or a list of accepted values) in SQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from embedspace.errors import InvalidInput

Scalar = str | int | float | bool | None


def where_sql(where: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Turn ``{"topic": "food", "year": [2020, 2021]}`` into a SQL condition and parameters.

    Every key must match (AND); a list means any of its values (IN); ``None`` means the
    field is missing or null.
    """
    if not isinstance(where, Mapping) or not where:
        raise InvalidInput("where must be a non-empty mapping of metadata field to value.")
    clauses: list[str] = []
    params: list[Any] = []
    for key, wanted in where.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"where keys must be non-empty strings, not {key!r}.")
        path = '$."' + key.replace('"', '\\"') + '"'
        values = list(wanted) if isinstance(wanted, list | tuple | set) else [wanted]
        if not values:
            raise InvalidInput(f"where['{key}'] is an empty list: give at least one value.")
        for value in values:
            if not isinstance(value, Scalar):
                raise InvalidInput(
                    f"where['{key}'] = {value!r}: filter values must be strings, numbers, "
                    "booleans or None."
                )
        present = [v for v in values if v is not None]
        parts = []
        if present:
            marks = ", ".join("?" for _ in present)
            parts.append(f"json_extract(metadata, ?) IN ({marks})")
            params.extend([path, *present])
        if len(present) < len(values):
            parts.append("json_extract(metadata, ?) IS NULL")
            params.append(path)
        clauses.append("(" + " OR ".join(parts) + ")")
    return " AND ".join(clauses), params
