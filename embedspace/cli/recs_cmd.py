"""Recommendations from a two-tower model: ``evaluate``, ``recommend``, ``similar-items``
(``train two-tower`` is in ``train_cmd``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from embedspace.cli.options import interaction_columns
from embedspace.cli.output import emit_json, print_table
from embedspace.cli.recs_reports import show_reports
from embedspace.errors import InvalidInput

if TYPE_CHECKING:
    from embedspace.ops.recommend import Recommendation


def _features(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"--features must be a JSON object, e.g. '{{\"age\": 30}}': {error}"
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidInput("--features must be a JSON object, e.g. '{\"age\": 30}'.")
    return parsed


@click.command("evaluate")
@click.argument("model", type=click.Path(file_okay=False))
@click.argument("interactions", type=click.Path(dir_okay=False))
@interaction_columns
@click.option("--no-baselines", is_flag=True, help="Only the model, no baselines.")
@click.option("--json", "as_json", is_flag=True, help="Print the evaluation as JSON Lines.")
def evaluate_command(
    model: str,
    interactions: str,
    user_column: str,
    item_column: str,
    time_column: str,
    weight_column: str | None,
    no_baselines: bool,
    as_json: bool,
) -> None:
    """Re-run the evaluation of a two-tower MODEL on INTERACTIONS, split the same way it
    was trained (the model only knows the training part), with the baselines.

    \b
    Example:
      embedspace evaluate movies ml-100k/interactions.csv
    """
    from embedspace.io.interactions import InteractionColumns
    from embedspace.ops.recommend import evaluate_from_file

    columns = InteractionColumns(user_column, item_column, time_column, weight_column)
    reports, how = evaluate_from_file(model, interactions, columns, baselines=not no_baselines)
    show_reports(reports, f"Test split ({how})", as_json=as_json)


@click.command("recommend")
@click.argument("model", type=click.Path(file_okay=False))
@click.option("--user", help="A user id the model knows.")
@click.option(
    "--features", help="A new user's features as JSON (cold start), e.g. '{\"age\": 30}'."
)
@click.option(
    "-k", "k", default=10, show_default=True, type=click.IntRange(min=1), help="How many items."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item: item_id, score.")
def recommend_command(
    model: str, user: str | None, features: str | None, k: int, as_json: bool
) -> None:
    """The K items MODEL recommends to a user (items they already chose are left out).

    \b
    Examples:
      embedspace recommend movies --user 196 -k 5
      embedspace recommend movies --features '{"age": 25, "gender": "F", "occupation": "writer"}'
    """
    from embedspace.ops.recommend import recommend_for_user

    found = recommend_for_user(model, user, features=_features(features), k=k)
    _print_items(found, as_json=as_json, title=f"for user {user}" if user else "for a new user")


@click.command("similar-items")
@click.argument("model", type=click.Path(file_okay=False))
@click.option("--item", help="An item id the model knows.")
@click.option("--features", help="A new item's features as JSON (cold start).")
@click.option(
    "-k", "k", default=10, show_default=True, type=click.IntRange(min=1), help="How many items."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item: item_id, score.")
def similar_items_command(
    model: str, item: str | None, features: str | None, k: int, as_json: bool
) -> None:
    """Items closest to an item in MODEL's item space ("people who liked this...").

    \b
    Example:
      embedspace similar-items movies --item 50 -k 5
    """
    from embedspace.ops.recommend import similar_to_item

    found = similar_to_item(model, item, features=_features(features), k=k)
    _print_items(found, as_json=as_json, title=f"like item {item}" if item else "like the new item")


def _print_items(found: list[Recommendation], *, as_json: bool, title: str) -> None:
    if as_json:
        emit_json({"item_id": r.item_id, "score": round(r.score, 6)} for r in found)
        return
    print_table(
        title,
        ["rank", "item_id", "score", "item"],
        [(n, r.item_id, r.score, r.title) for n, r in enumerate(found, 1)],
    )


COMMANDS = [evaluate_command, recommend_command, similar_items_command]
