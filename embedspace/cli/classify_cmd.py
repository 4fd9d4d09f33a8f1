"""``embedspace classify``: zero-shot labels for the items of a space or a folder of images."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from embedspace.cli.options import json_option
from embedspace.cli.output import emit_json, print_table
from embedspace.cli.progress import Stages
from embedspace.ops.classify import Classification, classify_target


@click.command("classify")
@click.argument("target", metavar="SPACE_OR_FOLDER")
@click.option(
    "--labels", metavar="A,B,…", help="Comma-separated labels to choose from (zero-shot)."
)
@click.option(
    "--train",
    "train_file",
    type=click.Path(dir_okay=False),
    help="Few-shot instead: a table of labelled examples (--text-field, --label-field) to "
    "train a classifier on the space's embeddings. In a space of images or sounds only "
    "(efficientnet-lite0, aisfx), the text field names each example's file.",
)
@click.option(
    "--text-field", default="text", show_default=True, help="With --train: the text column."
)
@click.option(
    "--label-field", default="label", show_default=True, help="With --train: the label column."
)
@click.option(
    "--encoder",
    metavar="NAME",
    default="imagenet-bridge",
    show_default=True,
    help="Text-and-image encoder for a folder of images (a space uses its own).",
)
@click.option(
    "--template",
    metavar="TEXT",
    help="How a label is phrased before embedding, with {} for the label. Default: the "
    "encoder's ('a photo of a {}' for CLIP, the bare label otherwise).",
)
@json_option("One JSON object per item: id, label, score.")
def classify_command(
    target: str,
    labels: str | None,
    train_file: str | None,
    text_field: str,
    label_field: str,
    encoder: str,
    template: str | None,
    as_json: bool,
) -> None:
    """Give every item of SPACE_OR_FOLDER the label that fits it best (zero-shot).

    Zero-shot (--labels): labels are embedded as text with the same encoder as the items;
    each item gets the label with the highest cosine similarity, and that similarity as its
    score. Few-shot (--train FILE): a logistic regression learns the labels from a handful
    of labelled examples; the score is its probability. A folder is read for images
    (corrupt files are reported and skipped); anything else names a space.

    \b
    Examples:
      embedspace classify ./photos --labels "cat,rocket,coffee,horse"
      embedspace classify photos --labels "sneaker,sandal,bag" --json
      embedspace classify news --labels "sports,politics,food"
      embedspace classify news --train labelled.csv --text-field headline --label-field topic
      embedspace classify sounds --train examples.csv --text-field file   # an aisfx space
    """
    with Stages() as progress:
        results = classify_target(
            target,
            labels=labels,
            examples=Path(train_file) if train_file is not None else None,
            text_field=text_field,
            label_field=label_field,
            encoder=encoder,
            template=template,
            on_skipped=lambda item: click.echo(f"Skipped {item}", err=True),
            on_progress=progress,
        )
    _print(results, as_json=as_json)


def _print(results: list[Classification], *, as_json: bool) -> None:
    if as_json:
        emit_json({"id": r.id, "label": r.label, "score": r.score} for r in results)
        return
    if not results:
        click.echo("No items to classify.")
        return
    print_table(None, ["id", "label", "score"], [(r.id, r.label, r.score) for r in results])
    counts = Counter(r.label for r in results)
    click.echo(", ".join(f"{label}: {n}" for label, n in counts.most_common()), err=True)


COMMANDS = [classify_command]
