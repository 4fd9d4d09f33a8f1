"""Recommendations: ``train two-tower``, ``evaluate``, ``recommend``, ``similar-items``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from embedspace.cli.output import emit_json, print_table
from embedspace.cli.progress import Progress
from embedspace.errors import InvalidInput
from embedspace.train.recs_eval import Report

if TYPE_CHECKING:
    from embedspace.ops.recommend import Recommendation
    from embedspace.train.two_tower import TwoTowerReport
    from embedspace.train.two_tower_fit import TrainingEpoch

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


def _columns(function: Any) -> Any:
    for option in reversed(_COLUMNS):
        function = option(function)
    return function


def _print_reports(reports: list[Report], title: str) -> None:
    k = reports[0].k
    print_table(
        title,
        ["model", f"Recall@{k}", f"NDCG@{k}", "MRR", "coverage", "users"],
        [
            (r.name, float(r.recall), float(r.ndcg), float(r.mrr), float(r.coverage), r.users)
            for r in reports
        ],
    )


def _show_reports(reports: list[Report], split: str, *, as_json: bool) -> None:
    """The evaluation: JSON Lines, or a table titled by the test split."""
    if as_json:
        _emit_reports(reports)
    else:
        _print_reports(reports, f"{split}, seen items excluded")


def _emit_reports(reports: list[Report]) -> None:
    """One JSON object per recommender: its name and metrics (plain floats)."""
    emit_json({k: (float(v) if k != "name" else v) for k, v in vars(r).items()} for r in reports)


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


def _kinds(pairs: tuple[str, ...]) -> dict[str, str]:
    kinds = {}
    for pair in pairs:
        column, sep, kind = pair.partition("=")
        if not sep or kind not in ("categorical", "numeric", "text", "ignore"):
            raise InvalidInput(
                f"--feature-kind takes COLUMN=categorical|numeric|text|ignore, not '{pair}'."
            )
        kinds[column] = kind
    return kinds


@click.command("two-tower")
@click.argument("interactions", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, metavar="DIR", help="Folder to write the model to.")
@click.option(
    "--user-features",
    type=click.Path(dir_okay=False),
    help="Table of user features (id column: --user-column).",
)
@click.option(
    "--item-features",
    type=click.Path(dir_okay=False),
    help="Table of item features (id column: --item-column).",
)
@click.option(
    "--feature-kind",
    "kinds",
    multiple=True,
    metavar="COL=KIND",
    help="Force a feature column's kind: categorical, numeric, text or ignore (repeatable).",
)
@click.option(
    "--text-encoder",
    default="minilm-l6",
    show_default=True,
    help="Encoder for text feature columns.",
)
@_columns
@click.option(
    "--split",
    type=click.Choice(["leave-last-out", "time"]),
    default="leave-last-out",
    show_default=True,
    help="How the test set is held out.",
)
@click.option(
    "--test-fraction",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Share held out by a time split.",
)
@click.option(
    "--dim",
    default=64,
    show_default=True,
    type=click.IntRange(min=2),
    help="Size of user and item vectors.",
)
@click.option(
    "--id-dim",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="Size of the id embeddings.",
)
@click.option(
    "--hidden",
    default=128,
    show_default=True,
    type=click.IntRange(min=1),
    help="Hidden units per tower.",
)
@click.option(
    "--epochs", default=30, show_default=True, type=click.IntRange(min=1), help="Most epochs."
)
@click.option(
    "--batch-size",
    default=512,
    show_default=True,
    type=click.IntRange(min=2),
    help="Interactions per step (the in-batch negatives).",
)
@click.option(
    "--lr",
    "learning_rate",
    default=3e-3,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="AdamW learning rate.",
)
@click.option(
    "--weight-decay",
    default=1e-6,
    show_default=True,
    type=click.FloatRange(min=0),
    help="AdamW weight decay.",
)
@click.option(
    "--temperature",
    default=0.1,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Softmax temperature.",
)
@click.option(
    "--logq/--no-logq",
    default=True,
    show_default=True,
    help="Correct for popular items being more often in-batch negatives.",
)
@click.option(
    "--negatives",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Extra uniformly sampled negatives per batch.",
)
@click.option(
    "--id-dropout",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Chance of hiding an id in training (teaches cold start).",
)
@click.option(
    "--history/--no-history",
    default=True,
    show_default=True,
    help="User tower also sees the user's other items.",
)
@click.option(
    "--patience",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Epochs without validation gain before stopping.",
)
@click.option(
    "--refit/--no-refit",
    default=True,
    show_default=True,
    help="Retrain on all training data (validation included) for the best number of epochs.",
)
@click.option(
    "-k",
    "k",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Cut-off of the metrics.",
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Random seed (runs are reproducible)."
)
@click.option("--no-baselines", is_flag=True, help="Skip the baselines in the final table.")
@click.option("--json", "as_json", is_flag=True, help="Print the evaluation as JSON Lines.")
def two_tower_command(
    interactions: str,
    output: str,
    user_features: str | None,
    item_features: str | None,
    kinds: tuple[str, ...],
    text_encoder: str,
    user_column: str,
    item_column: str,
    time_column: str,
    weight_column: str | None,
    no_baselines: bool,
    as_json: bool,
    **hyper: Any,
) -> None:
    """Train a two-tower recommender on INTERACTIONS (CSV/JSONL/Parquet with user and item
    ids), evaluate it against most-popular, item-kNN and ALS on a held-out split, and save
    it to --output for 'recommend' and 'similar-items'.

    \b
    Example:
      embedspace train two-tower ml-100k/interactions.csv -o movies \\
          --user-features ml-100k/users.csv --item-features ml-100k/items.csv
    """

    from embedspace.io.interactions import InteractionColumns
    from embedspace.ops.recommend import TrainingFiles, train_two_tower_from_files
    from embedspace.train.two_tower import TwoTowerSettings

    columns = InteractionColumns(user_column, item_column, time_column, weight_column)
    files = TrainingFiles(interactions, user_features, item_features, columns, _kinds(kinds))
    settings = TwoTowerSettings(**hyper)
    try:
        with _TrainingProgress(settings.k) as shown:
            report, user = train_two_tower_from_files(
                files,
                output,
                text_encoder=text_encoder,
                settings=settings,
                baselines=not no_baselines,
                on_epoch=shown.epoch,
                on_progress=shown.stage,
            )
    except KeyboardInterrupt:
        raise _interrupted(output) from None
    _show_reports(report.reports, f"Test split ({settings.split})", as_json=as_json)
    if not as_json:
        click.echo(
            f"Saved {_trained(report)}. Try: embedspace recommend {_path(output)} --user {user}"
        )


def _trained(report: TwoTowerReport) -> str:
    return (
        f"{report.path} (best epoch {report.best_epoch} of {report.epochs_run}, "
        f"{report.seconds:.0f} s)"
    )


def _try(output: str, user: str) -> str:
    return f"embedspace recommend {_path(output)} --user {user}"


def _interrupted(output: str) -> click.exceptions.Exit:
    click.echo(
        f"Interrupted. Nothing was saved: {output} is as it was (an earlier model there "
        "is untouched).",
        err=True,
    )
    return click.exceptions.Exit(130)


class _TrainingProgress:
    """Shows ``train_two_tower``'s progress on stderr. On a terminal: a bar per stage, its
    text showing the last epoch's loss and validation recall. Elsewhere: the house
    progress lines for each stage, and one line per epoch (loss, validation recall,
    elapsed time)."""

    def __init__(self, k: int, *, terminal: bool | None = None) -> None:
        self._k = k
        self._terminal = sys.stderr.isatty() if terminal is None else terminal
        self._bar: Progress | None = None
        self._stage = ""

    def __enter__(self) -> _TrainingProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._close(kind)

    def stage(self, stage: str, done: int, total: int | None) -> None:
        """The ``on_progress`` callback."""
        if stage != self._stage:
            self._close(None)
            self._stage = stage
            self._bar = Progress(stage, total, terminal=self._terminal).__enter__()
        if self._bar is not None:
            self._bar.update(done, total)

    def epoch(self, epoch: TrainingEpoch) -> None:
        """The ``on_epoch`` callback."""
        text = f"epoch {epoch.epoch}/{epoch.epochs}, loss {epoch.loss:.4f}"
        if epoch.validation_recall is not None:
            text += f", validation Recall@{self._k} {epoch.validation_recall:.4f}"
        if self._terminal:
            if self._bar is not None:
                self._bar.update(epoch.epoch, description=f"{self._stage}: {text}")
            return
        self._close(None)  # from here on, a line per epoch replaces the timed lines
        click.echo(f"{self._stage}: {text}, {epoch.seconds:.0f} s", err=True)

    def _close(self, kind: type[BaseException] | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind)
            self._bar = None


def _path(output: str) -> str:
    from embedspace.encoders.registry import looks_like_path

    return output if looks_like_path(output) else f"./{output}"


@click.command("evaluate")
@click.argument("model", type=click.Path(file_okay=False))
@click.argument("interactions", type=click.Path(dir_okay=False))
@_columns
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
    _show_reports(reports, f"Test split ({how})", as_json=as_json)


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
