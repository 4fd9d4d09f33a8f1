"""Printing for the CLI: rich tables for people, JSON Lines (``--json``) for scripts."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from embedspace.store import Match

if TYPE_CHECKING:  # for annotations only: rendering runs none of them
    from embedspace.cli.progress import Stages
    from embedspace.ops.search_many import QueryAnswer
    from embedspace.ops.sounds import SoundResults
    from embedspace.store.fingerprints import SongMatch


def console() -> Console:
    """A console on stdout (plain text when not a terminal)."""
    return Console(highlight=False, soft_wrap=False)


def typed_name() -> str:
    """How to run embedspace again from here: ``embedspace`` when that is on PATH, else the
    path this process was started by (``.venv/bin/embedspace`` before the venv is active)."""
    typed = sys.argv[0] if sys.argv else ""
    on_path = shutil.which("embedspace")
    if Path(typed).name != "embedspace" or (
        on_path and Path(on_path).resolve() == Path(typed).resolve()
    ):
        return "embedspace"
    return typed


def emit_json(rows: Iterable[dict[str, Any]]) -> None:
    """One JSON object per line on stdout."""
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False))


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A rich table with the given columns; the title and cells are shown as they are
    (a query or an item's text like "a [/b] c" is not rich markup)."""
    table = Table(title=None if title is None else escape(title), title_justify="left")
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(escape(_cell(v)) for v in row))
    console().print(table)


def print_listing(title: str, rows: Iterable[tuple[str, str]]) -> None:
    """Two borderless columns, a name and its description wrapped beside it: reads well
    at 80 columns, where a wide table would break every cell."""
    table = Table(title=title, title_justify="left", box=None, show_header=False, pad_edge=False)
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("description", overflow="fold", ratio=1)
    for name, description in rows:
        table.add_row(escape(name), escape(description))
    console().print(table)
    console().print()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def match_row(match: Match) -> dict[str, Any]:
    """A search result as JSON: id, score (6 decimals), content, metadata."""
    return {
        "id": match.id,
        "score": round(match.score, 6),
        "content": match.content,
        "metadata": match.metadata,
    }


def print_matches(matches: Sequence[Match], *, as_json: bool, title: str | None = None) -> None:
    """Search results as a ranked table, or JSON Lines with id, score, content, metadata."""
    if as_json:
        emit_json(match_row(m) for m in matches)
        return
    if not matches:
        click.echo("No results.")
        return
    print_table(
        title,
        ["rank", "score", "id", "text"],
        [(rank, m.score, m.id, shorten(m.content)) for rank, m in enumerate(matches, start=1)],
    )


def print_answers(
    answers: Iterable[QueryAnswer], space: str, *, as_json: bool, progress: Stages
) -> None:
    """Many queries' results: one JSON object per query (line, query, matches), or a table
    per query titled with its line (a line that found nothing says so). Written as they
    come when stdout is a file or a pipe (a large queries file is never held whole, and a
    failure keeps what was answered); on a terminal once all are answered and ``progress``
    has ended its display."""
    if sys.stdout.isatty():
        answers = list(answers)
        progress.close()
    if as_json:
        emit_json(
            {"line": a.line, "query": a.query, "matches": [match_row(m) for m in a.matches]}
            for a in answers
        )
        return
    for answer in answers:
        title = f"{answer.line}: {answer.query!r} in {space}"
        if answer.matches:
            print_matches(answer.matches, as_json=False, title=title)
        else:
            click.echo(f"{title}: no results.")


def print_songs(songs: Sequence[SongMatch], *, as_json: bool, title: str | None = None) -> None:
    """Identified songs as a table (or "No match."), or one JSON array (``[]``: none)."""
    if as_json:
        click.echo(json.dumps([song.to_dict() for song in songs], ensure_ascii=False))
        return
    if not songs:
        click.echo("No match: no song in the space agrees with this clip well enough.")
        return
    print_table(
        title,
        ["rank", "id", "score", "starts at (s)", "confidence"],
        [
            (rank, s.id, s.score, f"{s.offset_s:.2f}", f"{s.confidence:.2f}")
            for rank, s in enumerate(songs, start=1)
        ],
    )


def print_sound_results(found: SoundResults, *, as_json: bool, title: str) -> None:
    """Identified songs (``print_songs``) or sound-alike items (``print_matches``)."""
    if found.identified:
        print_songs(found.songs, as_json=as_json, title=f"Songs matching {title}")
    else:
        print_matches(found.matches, as_json=as_json, title=f"Sounds like {title}")


def plural(count: int, noun: str) -> str:
    """``"1 item"``, ``"2 items"`` (nouns that take an s)."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def shorten(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_where(pairs: Sequence[str]) -> dict[str, Any] | None:
    """``--where`` conditions → a where mapping (``store.conditions.parse_conditions``)."""
    from embedspace.store.conditions import parse_conditions

    return parse_conditions(pairs, option="--where")
