"""``embedspace spaces``, ``info`` and ``delete``: manage the spaces you have."""

from __future__ import annotations

import sys

import click

from embedspace import config
from embedspace.cli.options import json_option
from embedspace.cli.output import emit_json, print_table
from embedspace.errors import InvalidInput
from embedspace.store import Space, delete_space, list_spaces


@click.command("spaces")
@json_option("One JSON object per space.")
def spaces_command(as_json: bool) -> None:
    """List the spaces in $EMBEDSPACE_HOME.

    \b
    Examples:
      embedspace spaces
      embedspace spaces --json | jq -r .name
    """
    found = list_spaces()
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo(f"No spaces in {config.home()} yet. Make one with 'embedspace index NAME FILE'.")
        return
    print_table(
        f"Spaces in {config.home()}",
        ["name", "items", "encoder", "dim", "metric"],
        [
            (s["name"], s["count"], s["encoder"], s["dim"], s["metric"])
            if "error" not in s
            else (s["name"], "-", f"cannot open: {s['error']}", "-", "-")
            for s in found
        ],
    )


@click.command("info")
@click.argument("space")
@json_option("One JSON object.")
def info_command(space: str, as_json: bool) -> None:
    """Show what SPACE holds: encoder, dimension, metric, the recipe(s) its vectors were
    made with and the one queries run here (minilm-l6 chooses per CPU), size, index state.

    \b
    Examples:
      embedspace info news
      embedspace info ./my-space --json
    """
    with Space.open(space) as opened:
        details = opened.info()
        details["sample_ids"] = opened.ids()[:5]
    if as_json:
        emit_json([details])
        return
    print_table(
        None,
        ["field", "value"],
        [(k, ", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in details.items()],
    )


@click.command("delete")
@click.argument("space")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_command(space: str, yes: bool) -> None:
    """Delete SPACE and everything in it (it asks first, unless --yes).

    \b
    Examples:
      embedspace delete news
      embedspace delete old-copy --yes
    """
    with Space.open(space) as opened:
        count = len(opened)
    if not yes and not (sys.stdin and sys.stdin.isatty()):
        raise InvalidInput(f"Nobody to confirm: add --yes to delete '{space}' ({count} items).")
    if not yes:
        click.confirm(f"Delete space '{space}' and its {count} items?", abort=True)
    path = delete_space(space)
    click.echo(f"Deleted {path} ({count} items).")


COMMANDS = [spaces_command, info_command, delete_command]
