"""Click options that several commands share, each defined once (the help text of an
option that differs per command is a parameter)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: ``--where KEY=VALUE`` (repeatable): only items whose metadata matches.
where_option = click.option(
    "--where", multiple=True, metavar="KEY=VALUE", help="Only items whose metadata matches."
)


def json_option(help: str) -> Callable[[F], F]:
    """``--json`` (into ``as_json``): what it prints is command specific."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def validation_option(help: str) -> Callable[[F], F]:
    """``--validation``: the share of the training data a trainer holds out (0.1 by default,
    below 0.5) to pick its best epoch or stop early."""
    return click.option(
        "--validation",
        default=0.1,
        show_default=True,
        type=click.FloatRange(0, 0.5, max_open=True),
        help=help,
    )


def seed_option(help: str = "Random seed.") -> Callable[[F], F]:
    """``--seed`` (default 0)."""
    return click.option("--seed", default=0, show_default=True, type=int, help=help)


def text_fields_option(help: str) -> Callable[[F], F]:
    """``--text-field`` (repeatable, into ``text_fields``): text column(s) of a file."""
    return click.option("--text-field", "text_fields", multiple=True, metavar="F", help=help)


def k_option(help: str, *, default: int | None = 10, smallest: int = 1) -> Callable[[F], F]:
    """``-k`` (into ``k``): how many neighbours, words or clusters."""
    return click.option(
        "-k",
        "k",
        default=default,
        show_default=default is not None,
        type=click.IntRange(min=smallest),
        help=help,
    )


#: ``--model NAME|PATH``: word vectors (glove-50 by default).
word_model_option = click.option(
    "--model",
    default="glove-50",
    show_default=True,
    metavar="NAME|PATH",
    help="Word vectors: glove-50, a .bin/.vec/.txt file, or a 'train word2vec' folder.",
)


_COLUMNS = [
    click.option("--user-column", default="user_id", show_default=True, help="Column of user ids."),
    click.option("--item-column", default="item_id", show_default=True, help="Column of item ids."),
    click.option(
        "--time-column",
        default="timestamp",
        show_default=True,
        help="Column of times (used when present; orders each user's history).",
    ),
    click.option(
        "--weight-column",
        help="Column of weights (e.g. rating) that scale each interaction's loss.",
    ),
]


def interaction_columns(function: Any) -> Any:
    """The options naming an interactions table's columns (user, item, time, weight)."""
    for option in reversed(_COLUMNS):
        function = option(function)
    return function
