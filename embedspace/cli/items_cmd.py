"""``embedspace items``, ``remove`` and ``export``: see, delete and copy out what a space
holds."""

from __future__ import annotations

import json
from typing import Any

import click

from embedspace.cli.options import json_option, where_option
from embedspace.cli.output import emit_json, parse_where, plural, print_table, shorten
from embedspace.cli.progress import Progress, Stages
from embedspace.ops.export import FORMATS, export_to
from embedspace.ops.ingest import SOURCE_KEY
from embedspace.ops.items import list_items, remove_items
from embedspace.store import Space

#: Rows a table shows when no --limit is given (--json prints every item).
TABLE_ROWS = 50


@click.command("items")
@click.argument("space")
@click.option(
    "--where",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only items whose metadata matches (repeat for more).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    help=f"Show at most N items (default: {TABLE_ROWS} in the table, all with --json).",
)
@json_option("One JSON object per item: id, content, metadata.")
def items_command(space: str, where: tuple[str, ...], limit: int | None, as_json: bool) -> None:
    """List the items of SPACE, oldest first: id, text (shortened) and metadata.

    \b
    Examples:
      embedspace items news --limit 5
      embedspace items news --where topic=food --json
      embedspace items news --where _source=/data/headlines.csv    # read from that file
    """
    with Space.open(space) as opened:
        listing = list_items(
            opened,
            where=parse_where(where),
            limit=limit if limit is not None or as_json else TABLE_ROWS,
        )
    if as_json:
        emit_json({"id": i.id, "content": i.content, "metadata": i.metadata} for i in listing.items)
        return
    if not listing.items:
        click.echo("No items" + (" match the --where filter." if where else f" in '{space}'."))
        return
    print_table(
        f"{plural(listing.total, 'item')} in '{space}'"
        + (f", {len(listing.items)} shown" if len(listing.items) < listing.total else ""),
        ["id", "text", "metadata"],
        [(i.id, shorten(i.content, 80), _metadata(i.metadata)) for i in listing.items],
    )


def _metadata(metadata: dict[str, Any]) -> str:
    """``key=value, …`` with the item's own fields first and the file it came from last."""
    metadata = {k: v for k, v in metadata.items() if k != SOURCE_KEY} | {
        k: v for k, v in metadata.items() if k == SOURCE_KEY
    }
    return shorten(
        ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in metadata.items()), 120
    )


@click.command("remove")
@click.argument("space")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.option(
    "--missing-ok",
    is_flag=True,
    help="Remove the ids that are there and list the others, instead of stopping.",
)
@json_option("One JSON object: removed, missing.")
def remove_command(space: str, ids: tuple[str, ...], missing_ok: bool, as_json: bool) -> None:
    """Remove the items with these IDs from SPACE (in one transaction).

    An id that is not in the space stops the command before anything is removed, unless
    --missing-ok.

    \b
    Examples:
      embedspace remove news dale-1 dale-7
      embedspace items news --where topic=spam --json | jq -r .id | xargs embedspace remove news
    """
    with Stages() as progress, Space.open(space, on_progress=progress) as opened:
        removal = remove_items(opened, ids, missing_ok=missing_ok)
        count = len(opened)
    if as_json:
        emit_json([{"removed": removal.removed, "missing": removal.missing, "count": count}])
        return
    click.echo(f"Removed {plural(removal.removed, 'item')} from '{space}' ({count} left).")
    if removal.missing:
        click.echo(f"Not in the space: {', '.join(removal.missing)}.", err=True)


@click.command("export")
@click.argument("space")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help=f"File to write: {' or '.join(FORMATS)} (its folder must exist).",
)
@click.option(
    "--to",
    metavar="LOCATION",
    help="Copy into a new space instead, vectors and all: a postgresql:// URL (the copy keeps "
    "the name), a folder, or a name.",
)
@where_option
def export_command(space: str, output: str | None, to: str | None, where: tuple[str, ...]) -> None:
    """Write the items of SPACE to a Parquet or JSON Lines file: id, content, metadata and
    vector per item, written atomically. 'embedspace index' reads it back (with
    --vector-field vector, nothing is embedded again). With --to, copy them into a new
    space (SQLite or PostgreSQL) instead.

    \b
    Examples:
      embedspace export news -o news.parquet
      embedspace index news-copy news.parquet --vector-field vector --encoder minilm-l6
      embedspace export news -o food.jsonl --where topic=food
      embedspace export news --to postgresql://me@db.example:5432/search   # to pgvector
      embedspace --store postgresql://me@db.example:5432/search export news --to ./news
    """
    with Space.open(space) as opened, Progress(f"Exporting {opened.name}"):
        count, target = export_to(opened, output=output, to=to, where=parse_where(where))
    click.echo(f"Wrote {plural(count, 'item')} of '{space}' to {target}.")


COMMANDS = [items_command, remove_command, export_command]
