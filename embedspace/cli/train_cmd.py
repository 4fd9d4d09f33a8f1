"""``embedspace train``: fit encoders on your own data; each saves a folder that loads as
an encoder (``--encoder PATH``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from embedspace.cli.options import json_option, seed_option
from embedspace.cli.output import emit_json
from embedspace.cli.progress import Progress, Stages
from embedspace.encoders.registry import looks_like_path

if TYPE_CHECKING:
    from embedspace.train.align import AlignReport

_output_option = click.option(
    "-o",
    "--output",
    required=True,
    metavar="DIR",
    help="Folder to write the model to (new, or an earlier model; in an existing folder).",
)


@click.group("train")
def train_group() -> None:
    """Train encoders on your own data (needs torch: the 'torch' extra)."""


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
@click.option(
    "--validation",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 0.5, max_open=True),
    help="Fraction held out for early stopping.",
)
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


def _add_two_tower() -> None:
    from embedspace.cli.recs_cmd import two_tower_command

    train_group.add_command(two_tower_command)


_add_two_tower()
COMMANDS = [train_group]
