"""Interaction tables (who chose what, when, how much) and feature tables (facts about
users or items), read from CSV/TSV, JSON Lines, JSON or Parquet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.errors import InvalidInput
from embedspace.io.readers import read_rows


@dataclass(frozen=True)
class Interactions:
    """Parallel arrays, one entry per interaction, in file order."""

    users: np.ndarray  # str ids
    items: np.ndarray  # str ids
    timestamps: np.ndarray | None = None  # float
    weights: np.ndarray | None = None  # float

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, rows: np.ndarray) -> Interactions:
        """The interactions at ``rows`` (indices or a boolean mask)."""
        return Interactions(
            self.users[rows],
            self.items[rows],
            None if self.timestamps is None else self.timestamps[rows],
            None if self.weights is None else self.weights[rows],
        )


def _missing(path: Path, name: str, role: str, columns: Sequence[str], option: str) -> InvalidInput:
    return InvalidInput(
        f"{path} has no '{name}' column for the {role} (it has: {', '.join(columns)}). "
        f"Name the right one with {option}."
    )


@dataclass(frozen=True)
class InteractionColumns:
    """Which columns of an interactions table hold what (``time`` is used when present;
    ``weight``, when named, must exist)."""

    user: str = "user_id"
    item: str = "item_id"
    time: str | None = "timestamp"
    weight: str | None = None

    def read(self, path: str | Path) -> Interactions:
        """``read_interactions(path)`` with these columns."""
        return read_interactions(
            path,
            user_column=self.user,
            item_column=self.item,
            time_column=self.time,
            weight_column=self.weight,
        )


def read_interactions(
    path: str | Path,
    *,
    user_column: str = "user_id",
    item_column: str = "item_id",
    time_column: str | None = "timestamp",
    weight_column: str | None = None,
) -> Interactions:
    """Read an interactions table. ``time_column`` is used when present (pass ``None`` to
    ignore it); ``weight_column`` (a rating or count) must exist when named. Raises
    ``InvalidInput`` for a missing column, an empty file, an empty id or a bad number."""
    file = Path(path)
    rows = [row for _, row in read_rows(file)]
    if not rows:
        raise InvalidInput(f"{file} holds no interactions.")
    columns = list(rows[0])
    for name, role, option in (
        (user_column, "user ids", "--user-column"),
        (item_column, "item ids", "--item-column"),
    ):
        if name not in columns:
            raise _missing(file, name, role, columns, option)
    if weight_column is not None and weight_column not in columns:
        raise _missing(file, weight_column, "weights", columns, "--weight-column")
    timed = time_column is not None and time_column in columns
    users, items, times, weights = [], [], [], []
    for number, row in enumerate(rows, start=1):
        user, item = (
            str(row.get(user_column) or "").strip(),
            str(row.get(item_column) or "").strip(),
        )
        if not user or not item:
            raise InvalidInput(f"{file}, row {number}: empty user or item id.")
        users.append(user)
        items.append(item)
        if timed:
            times.append(_number(row.get(str(time_column)), file, number, str(time_column)))
        if weight_column is not None:
            weights.append(_number(row.get(weight_column), file, number, weight_column))
    return Interactions(
        np.asarray(users, dtype=object),
        np.asarray(items, dtype=object),
        np.asarray(times, dtype=np.float64) if timed else None,
        np.asarray(weights, dtype=np.float64) if weight_column is not None else None,
    )


def _number(value: Any, file: Path, number: int, column: str) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{file}, row {number}: '{column}' is not a number ({value!r})."
        ) from None
    if not np.isfinite(result):
        raise InvalidInput(f"{file}, row {number}: '{column}' is not a finite number.")
    return result


def read_features(path: str | Path, *, id_column: str) -> dict[str, dict[str, Any]]:
    """A feature table as ``{id: {column: value}}`` (the id column removed)."""
    file = Path(path)
    table: dict[str, dict[str, Any]] = {}
    for number, row in read_rows(file):
        if id_column not in row:
            raise _missing(file, id_column, "ids", list(row), "--user-column or --item-column")
        key = str(row.pop(id_column) or "").strip()
        if not key:
            raise InvalidInput(f"{file}, row {number}: empty id.")
        if key in table:
            raise InvalidInput(f"{file}, row {number}: id '{key}' appears twice.")
        table[key] = row
    if not table:
        raise InvalidInput(f"{file} holds no rows.")
    return table
