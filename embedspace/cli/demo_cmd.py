"""``embedspace demo``: index the shipped headlines and search them by meaning."""

from __future__ import annotations

from pathlib import Path

import click

from embedspace.cli.output import print_matches, typed_name
from embedspace.io import Record, read_records
from embedspace.store import Space

HEADLINES = Path(__file__).resolve().parent.parent / "data" / "headlines.csv"
QUERIES = ("food", "money worries", "space exploration")


@click.command("demo")
@click.option(
    "--space",
    "space_name",
    default="demo-headlines",
    show_default=True,
    help="Name (or path) of the space to build.",
)
def demo_command(space_name: str) -> None:
    """Build a space from the headlines that ship with embedspace and search it.

    "food" finds "Are Burritos the Next Taco?" although the word never appears in it.
    Afterwards, try: embedspace search demo-headlines "your own query".
    """
    records = [
        r for r in read_records(HEADLINES, text_fields=["headline"]) if isinstance(r, Record)
    ]
    me = typed_name()  # e.g. .venv/bin/embedspace when that is how it was run
    with Space.open_or_create(space_name) as space:
        result = space.upsert_records(records)
        click.echo(
            f"Space '{space.name}' at {space.path}: {result.added} added, "
            f"{result.unchanged} unchanged, {len(space)} headlines "
            f"(same as: {me} index {space_name} {HEADLINES})"
        )
        for query in QUERIES:
            click.echo(f"\n$ {me} search {space_name} {query!r} -k 3")
            print_matches(space.search(query, k=3), as_json=False)
    click.echo(f'\nNow try: {me} search {space_name} "your own words"')


COMMANDS = [demo_command]
