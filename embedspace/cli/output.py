"""Printing for the CLI: rich tables for people, JSON Lines (``--json``) for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from embedspace.store import Match


def console() -> Console:
    """A console on stdout (plain text when not a terminal)."""
    return Console(highlight=False, soft_wrap=False)


def emit_json(rows: Iterable[dict[str, Any]]) -> None:
    """One JSON object per line on stdout."""
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False))


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A rich table with the given columns."""
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def print_matches(matches: Sequence[Match], *, as_json: bool, title: str | None = None) -> None:
    """Search results as a ranked table, or JSON Lines with id, score, content, metadata."""
    if as_json:
        emit_json(
            {"id": m.id, "score": round(m.score, 6), "content": m.content, "metadata": m.metadata}
            for m in matches
        )
        return
    if not matches:
        click.echo("No results.")
        return
    print_table(
        title,
        ["rank", "score", "id", "text"],
        [(rank, m.score, m.id, shorten(m.content)) for rank, m in enumerate(matches, start=1)],
    )


def plural(count: int, noun: str) -> str:
    """``"1 item"``, ``"2 items"`` (nouns that take an s)."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def shorten(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_where(pairs: Sequence[str]) -> dict[str, Any] | None:
    """``["topic=food", "year=2020"]`` → a where mapping (repeating a key means any of).

    A value that reads as a JSON number, boolean or null also matches that typed value, so
    ``year=2020`` finds both ``"2020"`` (from CSV) and ``2020`` (from JSON).
    """
    from embedspace.errors import InvalidInput

    where: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--where takes key=value, not '{pair}'.")
        accepted = where.setdefault(key.strip(), [])
        accepted.append(value)
        try:
            typed = json.loads(value)
        except json.JSONDecodeError:
            continue
        if typed is None or isinstance(typed, bool | int | float):
            accepted.append(typed)
    return {k: v for k, v in where.items()} or None
