"""Search conditions written as text, as people type them in a terminal or a URL:
``KEY=VALUE``, ``KEY!=VALUE``, ``KEY<VALUE``, ``KEY<=VALUE``, ``KEY>VALUE``, ``KEY>=VALUE``.
Every face parses them here, so they mean the same everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from embedspace.errors import InvalidInput
from embedspace.store.database import parse_number

#: ``--where`` operators, longest first so ``<=`` is not read as ``<`` (``==``, as Python
#: and SQL people type it, means ``=``).
_WHERE_OPERATORS = ("==", "!=", "<=", ">=", "=", "<", ">")


def parse_conditions(pairs: Sequence[str], *, option: str = "where") -> dict[str, Any] | None:
    """Conditions written as text (the CLI's ``--where``, a URL's ``where``) → a where
    mapping for ``Space.search`` (``store/filters.py``).

    Each is ``KEY=VALUE`` (or ``KEY==VALUE``), ``KEY!=VALUE``, ``KEY<VALUE``, ``KEY<=VALUE``,
    ``KEY>VALUE`` or ``KEY>=VALUE``. A VALUE that reads as a number is compared as one
    (also with numbers stored as text), ``true``/``false`` match booleans, ``null`` a
    missing field; anything
    else is a string. Every condition must hold, except that ``KEY=VALUE`` repeated for
    one key means any of those values (and ``KEY!=VALUE`` repeated, none of them).
    """
    where: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        at = min((i for i in (pair.find(op) for op in "!=<>") if i >= 0), default=-1)
        key = pair[:at].strip() if at >= 0 else ""
        operator = next((op for op in _WHERE_OPERATORS if pair.startswith(op, at)), "")
        if not key or not operator:
            raise InvalidInput(
                f"{option} takes KEY=VALUE, KEY!=VALUE, KEY<VALUE, KEY<=VALUE, KEY>VALUE or "
                f"KEY>=VALUE, not '{pair}'."
            )
        text = pair[at + len(operator) :]
        number = parse_number(text)
        lowered = text.strip().lower()
        value: Any = text
        if number is not None:
            value = number
        elif lowered in ("true", "false"):
            value = lowered == "true"
        elif lowered == "null":
            value = None
        conditions = where.setdefault(key, {})
        operator = "=" if operator == "==" else operator
        if operator in ("=", "!="):
            conditions.setdefault("in" if operator == "=" else "not in", []).append(value)
        elif operator in conditions:
            raise InvalidInput(f"{option} gives '{key}{operator}' twice: keep one.")
        else:
            conditions[operator] = value
    return {key: _simplest(conditions) for key, conditions in where.items()} or None


def _simplest(conditions: dict[str, Any]) -> Any:
    """``{"in": [v]}`` as ``v`` and ``{"in": [a, b]}`` as ``[a, b]``, as people write them."""
    if list(conditions) == ["in"]:
        values = conditions["in"]
        return values[0] if len(values) == 1 else values
    return conditions
