"""``embedspace train text-encoder`` and ``train image-encoder``: make the text or image
space itself fit your domain. Each saves a folder that loads as an encoder."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from embedspace.cli.options import json_option, seed_option, validation_option
from embedspace.cli.output import emit_json
from embedspace.cli.progress import Stages
from embedspace.encoders.registry import looks_like_path

if TYPE_CHECKING:
    from embedspace.train.image_encoder import ImageEncoderReport
    from embedspace.train.static_fit import StaticFitReport
    from embedspace.train.text_encoder import TextEncoderReport


F = TypeVar("F", bound=Callable[..., Any])


def _output_option(kind: str) -> Callable[[F], F]:
    return click.option(
        "-o",
        "--output",
        required=True,
        metavar="DIR",
        help=f"Folder to write the {kind} to (new, or an earlier one of the same kind).",
    )


def _int(
    name: str, default: int, text: str, smallest: int = 1, largest: int | None = None
) -> Callable[[F], F]:
    kind = click.IntRange(min=smallest, max=largest)
    return click.option(name, default=default, show_default=True, type=kind, help=text)


def _float(name: str, default: float, text: str) -> Callable[[F], F]:
    return click.option(
        name, default=default, show_default=True, type=click.FloatRange(min=0), help=text
    )


@click.command("text-encoder")
@click.argument("pairs", type=click.Path(dir_okay=False))
@_output_option("text encoder")
@click.option(
    "--base",
    default="minilm-l6",
    show_default=True,
    help="Start from minilm-l6's fp32 weights, or from a folder trained earlier.",
)
@_int("--epochs", 4, "Most passes over the pairs (early stopping may end sooner).")
@_int("--batch-size", 32, "Pairs per step; the other pairs of a batch are its negatives.", 2)
@_float("--learning-rate", 1e-4, "AdamW learning rate (warm-up, then linear decay).")
@_float("--scale", 20.0, "Cosine scale of the ranking loss (1 / temperature).")
@_int("--max-tokens", 128, "Texts are cut to this many tokens while training.")
@validation_option(
    "Share of the queries held out to pick the best epoch (0: score the training data)."
)
@_int("--patience", 2, "Stop after this many epochs without a better validation score.")
@seed_option("Random seed (runs are reproducible).")
@json_option("Print the training report as JSON.")
def text_encoder_command(pairs: str, output: str, base: str, as_json: bool, **hyper: Any) -> None:
    """Fine-tune a text encoder on your own pairs, so that your queries find your answers.

    PAIRS is a CSV/JSONL/Parquet table with columns query and positive (optionally
    negative: a near miss), e.g. FAQ questions and their answers; or with columns sentence
    and label (sentences with one label are pulled together). Training starts from
    minilm-l6's fp32 weights with in-batch negatives (the standard retrieval recipe),
    scores held-out queries after every epoch and keeps the best epoch (Ctrl-C keeps the
    best so far). The folder written to --output is an encoder that runs on onnxruntime
    in the same int8/fp32 recipes as minilm-l6 (no torch needed to use it).

    \b
    Example:
      embedspace train text-encoder faq-pairs.csv -o my-faq
      embedspace index faq answers.csv --encoder ./my-faq
      embedspace search faq "how do I reset my password"
    """
    from embedspace.ops.training import text_encoder_from_file
    from embedspace.train.text_encoder import TextEncoderSettings

    with Stages() as progress:
        report = text_encoder_from_file(
            pairs,
            output,
            base=base,
            settings=TextEncoderSettings(**hyper),
            on_epoch=None if as_json else _print_epoch,
            on_progress=progress,
        )
    _print_report(report, output, as_json=as_json)


@click.command("static-encoder")
@click.argument("sources", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_output_option("static encoder")
@click.option(
    "--text-field",
    "text_fields",
    multiple=True,
    metavar="COLUMN",
    help="Column(s) holding the text in CSV/JSONL/Parquet files (default: text, content, "
    "body, sentence, headline or title). Repeat to join several.",
)
@_int("--dims", 256, "Size of the vectors.", 8, 384)
@seed_option("Random seed of the held-out texts.")
@json_option("Print the fit's report as JSON.")
def static_encoder_command(
    sources: tuple[str, ...],
    output: str,
    text_fields: tuple[str, ...],
    dims: int,
    seed: int,
    as_json: bool,
) -> None:
    """Fit a static encoder to your own texts: minilm-static's speed, tuned to your words.

    SOURCES are files of texts: plain text (one per line) or CSV/JSONL/Parquet tables, as
    `index` reads them. minilm-l6 embeds them once; a map is learned that takes the mean of
    a text's token vectors to where minilm-l6 puts the text (minilm-static ships a map
    learned on Wikipedia; this one learns your domain). Give at least 500 texts, better
    5,000 or more, ideally the texts you will search; it takes about as long as indexing
    them with minilm-l6, plus ~30 s. A tenth of the texts (at most 2,000) is held out: the
    report says how many of their 10 nearest neighbours the fitted encoder finds where
    minilm-l6 does, next to minilm-static's share. At most 200,000 texts are used (a
    random sample of more). The folder is an encoder (its table: 16 MB at 256 dims; no
    teacher needed to use it); Ctrl-C leaves no folder behind.

    \b
    Example:
      embedspace train static-encoder tickets.csv --text-field body -o ticket-static
      embedspace index tickets tickets.csv --encoder ./ticket-static
      embedspace search tickets "printer will not connect"
    """
    from embedspace.ops.training import static_encoder_from_files

    with Stages() as progress:
        report = static_encoder_from_files(
            sources, output, text_fields=text_fields, dims=dims, seed=seed, on_progress=progress
        )
    _print_static_report(report, output, as_json=as_json)


def _print_static_report(report: StaticFitReport, output: str, *, as_json: bool) -> None:
    from embedspace.train.static_fit import VALIDATE_FROM

    if as_json:
        fields = {k: v for k, v in vars(report).items() if k != "path"}
        emit_json([{"model": str(report.path), **fields}])
        return
    sampled = (
        f" (a random sample of {report.given:,})"
        if report.given > report.texts + report.held_out
        else ""
    )
    click.echo(
        f"Saved {report.path}: a {report.dims}-d static encoder fitted to {report.texts:,} "
        f"texts{sampled} in {report.seconds:.0f} s."
    )
    if report.agreement is not None and report.shipped_agreement is not None:
        click.echo(
            f"On {report.held_out:,} held-out texts it finds {report.agreement:.0%} of the "
            f"10 nearest neighbours minilm-l6 finds (minilm-static: "
            f"{report.shipped_agreement:.0%})."
        )
    else:
        click.echo(
            f"Fewer than {VALIDATE_FROM:,} texts: none were held out, so the fit was not scored."
        )
    path = output if looks_like_path(output) else f"./{output}"
    click.echo(f"Use it with --encoder {path}")


@click.command("image-encoder")
@click.argument("source", type=click.Path(exists=True))
@_output_option("image encoder")
@click.option(
    "--unfreeze",
    default=0,
    show_default=True,
    type=click.IntRange(0, 8),
    help="Also fine-tune the network's last N blocks (0: head only; slower, needs more data).",
)
@_int("--dim", 128, "Size of the vectors.")
@_int("--hidden", 512, "Hidden width of the projection head.")
@_int("--epochs", 30, "Most passes over the images (early stopping may end sooner).")
@_int("--batch-size", 256, "Images per step.", 4)
@_int("--per-group", 4, "Images of one class (or product) drawn together in a batch.", 2)
@_float("--learning-rate", 1e-3, "AdamW learning rate of the head (unfrozen blocks: a tenth).")
@_float("--temperature", 0.1, "Temperature of the supervised contrastive loss.")
@validation_option(
    "Share of the images held out to pick the best epoch (0: score the training data)."
)
@_int("--patience", 5, "Stop after this many epochs without a better validation score.")
@seed_option("Random seed (runs are reproducible).")
@json_option("Print the training report as JSON.")
def image_encoder_command(source: str, output: str, as_json: bool, **hyper: Any) -> None:
    """Train an image encoder for your domain (clothes, parts, products…), so that
    reverse image search finds the same kind of thing.

    SOURCE is a folder with one sub-folder of images per class (shoes/, boots/…), or a
    CSV/JSONL table beside the images with columns image and label, or image and same (two
    photos of one product). Starts from efficientnet-lite0: its features are computed once
    and a projection head is trained with a supervised contrastive loss; --unfreeze N also
    fine-tunes the network's last N blocks. The best epoch on held-out images is kept
    (Ctrl-C keeps the best so far). The folder written to --output holds the whole network
    as ONNX: an encoder that needs no torch.

    \b
    Example:
      embedspace train image-encoder ./clothes -o my-clothes
      embedspace index wardrobe ./photos --encoder ./my-clothes
      embedspace search wardrobe --image query.jpg
    """
    from embedspace.ops.training import image_encoder_from_folder
    from embedspace.train.image_encoder import ImageEncoderSettings

    with Stages() as progress:
        report = image_encoder_from_folder(
            source,
            output,
            settings=ImageEncoderSettings(**hyper),
            on_epoch=None if as_json else _print_epoch,
            on_progress=progress,
        )
    _print_report(report, output, as_json=as_json)


def _print_epoch(epoch: int, train_loss: float, score: float) -> None:
    loss = "" if math.isnan(train_loss) else f"  train loss {train_loss:.4f}"
    what = "before training" if epoch == 0 else f"epoch {epoch:3d}"
    click.echo(f"{what}{loss}  validation MRR@10 {score:.4f}", err=True)


def _print_report(
    report: TextEncoderReport | ImageEncoderReport, output: str, *, as_json: bool
) -> None:
    if as_json:
        fields = {k: v for k, v in vars(report).items() if k != "path"}
        emit_json([{"model": str(report.path), **fields}])
    else:
        kept = (
            f"best epoch {report.best_epoch} of {report.epochs_run}"
            if report.best_epoch
            else "no epoch beat the starting encoder, which is kept"
        )
        path = output if looks_like_path(output) else f"./{output}"
        click.echo(
            f"Saved {report.path} ({kept}; validation MRR@10 {report.score_before:.3f} -> "
            f"{report.score_after:.3f}, {report.seconds:.0f} s). Use it with --encoder {path}"
        )
    if report.interrupted:
        click.echo("Interrupted: the best model so far was saved.", err=True)
        sys.exit(130)
