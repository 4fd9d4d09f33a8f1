"""``embedspace train``: fit encoders on your own data; each saves a folder that loads as
an encoder (``--encoder PATH``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from embedspace.cli.options import (
    interaction_columns,
    json_option,
    seed_option,
    validation_option,
)
from embedspace.cli.output import emit_json
from embedspace.cli.progress import Progress, Stages
from embedspace.cli.recs_reports import show_reports
from embedspace.encoders.registry import looks_like_path
from embedspace.errors import InvalidInput

if TYPE_CHECKING:
    from embedspace.train.align import AlignReport
    from embedspace.train.two_tower import TwoTowerReport
    from embedspace.train.two_tower_fit import TrainingEpoch

_output_option = click.option(
    "-o",
    "--output",
    required=True,
    metavar="DIR",
    help="Folder to write the model to (new, or an earlier model; in an existing folder).",
)


@click.group("train")
def train_group() -> None:
    """Train encoders on your own data (the 'torch' extra; static-encoder: core only)."""


@train_group.command("align")
@click.argument("pairs", type=click.Path(dir_okay=False))
@click.option(
    "--images",
    "image_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder the image paths in PAIRS are relative to.",
)
@_output_option
@click.option("--image-field", default="image", show_default=True, help="Column with image paths.")
@click.option("--caption-field", default="caption", show_default=True, help="Column with captions.")
@click.option(
    "--image-encoder",
    default="efficientnet-lite0",
    show_default=True,
    help="Image encoder under the image head (kept frozen).",
)
@click.option(
    "--text-encoder",
    default="minilm-l6",
    show_default=True,
    help="Text encoder under the text head (kept frozen).",
)
@click.option(
    "--dim",
    default=256,
    show_default=True,
    type=click.IntRange(min=2),
    help="Size of the shared space.",
)
@click.option(
    "--hidden",
    default=512,
    show_default=True,
    type=click.IntRange(min=1),
    help="Hidden units per head.",
)
@click.option(
    "--epochs",
    default=40,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most epochs to run.",
)
@click.option(
    "--batch-size",
    default=256,
    show_default=True,
    type=click.IntRange(min=2),
    help="Pairs per step (in-batch negatives).",
)
@click.option(
    "--lr",
    "learning_rate",
    default=1e-3,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="AdamW learning rate.",
)
@click.option(
    "--weight-decay",
    default=1e-4,
    show_default=True,
    type=click.FloatRange(min=0),
    help="AdamW weight decay.",
)
@click.option(
    "--temperature",
    default=0.07,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Initial softmax temperature (learnt).",
)
@validation_option("Fraction held out for early stopping.")
@click.option(
    "--patience",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="Epochs without improvement before stopping.",
)
@seed_option("Random seed (runs are reproducible).")
@json_option("Print the training report as JSON.")
def align_command(
    pairs: str,
    image_dir: str,
    output: str,
    image_field: str,
    caption_field: str,
    image_encoder: str,
    text_encoder: str,
    as_json: bool,
    **hyper: Any,
) -> None:
    """Learn a text-and-image space from your captioned images (LiT: frozen encoders,
    trained projection heads, contrastive loss).

    PAIRS is a CSV/JSONL/Parquet file with an image path and a caption per row. The model
    written to --output is an encoder: index with --encoder DIR, then search your images
    by text, or classify them.

    \b
    Example:
      embedspace train align pairs.csv --images ./photos -o shoes-align
      embedspace index shoes ./photos --encoder ./shoes-align
      embedspace search shoes "red running shoe"
    """
    from embedspace.ops.training import align_from_file
    from embedspace.train.align import AlignSettings

    with Stages() as progress:
        report = align_from_file(
            pairs,
            image_dir,
            output,
            image_field=image_field,
            caption_field=caption_field,
            image_encoder=image_encoder,
            text_encoder=text_encoder,
            settings=AlignSettings(**hyper),
            on_epoch=None if as_json else _print_epoch,
            on_progress=progress,
        )
    _print_align(report, output, as_json=as_json)


def _print_epoch(epoch: int, train_loss: float, valid_loss: float) -> None:
    click.echo(
        f"epoch {epoch:3d}  train loss {train_loss:.4f}  validation loss {valid_loss:.4f}",
        err=True,
    )


def _print_align(report: AlignReport, output: str, *, as_json: bool) -> None:
    if as_json:
        emit_json(
            [
                {
                    "model": str(report.path),
                    "pairs": report.pairs,
                    "epochs_run": report.epochs_run,
                    "best_epoch": report.best_epoch,
                    "validation_loss": report.validation_loss,
                    "validation_recall_at_1": report.validation_recall,
                }
            ]
        )
        return
    click.echo(
        f"Saved {report.path} (best epoch {report.best_epoch} of {report.epochs_run}; "
        f"validation loss {report.validation_loss:.4f}, caption recall@1 "
        f"{report.validation_recall:.3f}). Use it with --encoder {_as_path(output)}"
    )


def _as_path(output: str) -> str:
    """How to name ``output`` again so that it reads as a path, not an encoder name."""
    return output if looks_like_path(output) else f"./{output}"


@train_group.command("word2vec")
@click.argument("corpus", type=click.Path(dir_okay=False))
@_output_option
@click.option(
    "--cbow", is_flag=True, help="CBOW instead of skip-gram (faster, a bit weaker on rare words)."
)
@click.option(
    "--dim", default=100, show_default=True, type=click.IntRange(min=1), help="Vector size."
)
@click.option(
    "--window",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="Context words on each side.",
)
@click.option(
    "--min-count",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="Ignore rarer words.",
)
@click.option(
    "--epochs",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="Passes over the corpus.",
)
@click.option(
    "--negative",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="Negative samples per word.",
)
@click.option(
    "--sample",
    default=1e-3,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Down-sampling of frequent words.",
)
@click.option(
    "--workers",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Threads (0: one per core; 1: reproducible).",
)
@seed_option()
def word2vec_command(corpus: str, output: str, cbow: bool, **hyper: Any) -> None:
    """Train Word2Vec (skip-gram by default) on CORPUS, a text file with one sentence or
    paragraph per line; the folder written to --output loads as word vectors anywhere a
    model is asked for (--model DIR, --encoder DIR).

    \b
    Example:
      embedspace train word2vec corpus.txt -o my-words
      embedspace words neighbors coffee --model my-words
    """
    from embedspace.train.word2vec import Word2VecSettings, train_word2vec

    settings = Word2VecSettings(skip_gram=not cbow, **hyper)
    with Progress("Training Word2Vec (epochs)", total=settings.epochs) as bar:
        words = train_word2vec(corpus, output, settings=settings, on_epoch=_epochs_on(bar))
    click.echo(
        f"Saved {len(words):,} words x {words.dim} to {output}. Try: embedspace words "
        f"neighbors {words.words[min(50, len(words) - 1)]} --model {_as_path(output)}"
    )


def _epochs_on(bar: Progress) -> Callable[[int, float], Any]:
    """An ``on_epoch(epoch, loss)`` that shows the epoch and its loss on ``bar``."""

    def on_epoch(epoch: int, loss: float) -> None:
        bar.update(epoch, description=f"Training Word2Vec (epochs), loss {loss:,.0f}")

    return on_epoch


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


@train_group.command("two-tower")
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
@interaction_columns
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
    show_reports(report.reports, f"Test split ({settings.split})", as_json=as_json)
    if not as_json:
        click.echo(f"Saved {_trained(report)}. Try: {_try(output, user)}")


def _trained(report: TwoTowerReport) -> str:
    return (
        f"{report.path} (best epoch {report.best_epoch} of {report.epochs_run}, "
        f"{report.seconds:.0f} s)"
    )


def _try(output: str, user: str) -> str:
    return f"embedspace recommend {_as_path(output)} --user {user}"


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


COMMANDS = [train_group]


def _add_encoder_trainers() -> None:
    """``train text-encoder``, ``image-encoder`` and ``static-encoder`` live in their own
    module."""
    from embedspace.cli.train_encoders import (
        image_encoder_command,
        static_encoder_command,
        text_encoder_command,
    )

    train_group.add_command(text_encoder_command)
    train_group.add_command(image_encoder_command)
    train_group.add_command(static_encoder_command)


_add_encoder_trainers()
