"""``embedspace search`` and ``embedspace similar``: nearest neighbours in a space."""

from __future__ import annotations

import click

from embedspace.cli.output import parse_where, print_matches
from embedspace.store import Space

_K = click.option(
    "-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="How many results."
)
_WHERE = click.option(
    "--where",
    "where",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keep items whose metadata KEY equals VALUE (repeat for more; the "
    "same key twice means either value).",
)
_EXACT = click.option(
    "--exact", is_flag=True, help="Search exactly even when an HNSW index is used."
)
_JSON = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per line: id, score, content, metadata.",
)


@click.command("search")
@click.argument("space")
@click.argument("query")
@_K
@_WHERE
@_EXACT
@_JSON
def search_command(
    space: str, query: str, k: int, where: tuple[str, ...], exact: bool, as_json: bool
) -> None:
    """Find the items of SPACE closest in meaning to QUERY.

    Scores are higher-is-better (cosine similarity for cosine spaces).

    \b
    Examples:
      embedspace search news "food"
      embedspace search news "elections" -k 3 --where source=dale-times --json
    """
    with Space.open(space) as opened:
        matches = opened.search(query, k=k, where=parse_where(where), exact=exact)
    print_matches(matches, as_json=as_json, title=f"{query!r} in {space}")


@click.command("similar")
@click.argument("space")
@click.argument("item_id", metavar="ID")
@_K
@_WHERE
@_EXACT
@_JSON
def similar_command(
    space: str, item_id: str, k: int, where: tuple[str, ...], exact: bool, as_json: bool
) -> None:
    """Find the items of SPACE closest to the stored item ID (itself excluded).

    \b
    Example:
      embedspace similar news dale-1 -k 3
    """
    with Space.open(space) as opened:
        matches = opened.similar(item_id, k=k, where=parse_where(where), exact=exact)
    print_matches(matches, as_json=as_json, title=f"like {item_id!r} in {space}")


COMMANDS = [search_command, similar_command]
