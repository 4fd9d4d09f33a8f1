"""``embedspace classify``: zero-shot labels for the items of a space or a folder of images."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from embedspace.cli.output import emit_json, print_table
from embedspace.cli.progress import Progress
from embedspace.errors import InvalidInput
from embedspace.io import Record, read_image_records
from embedspace.ops.classify import Classification, classify_images, classify_space, few_shot
from embedspace.store import Space, resolve
from embedspace.store.database import DATABASE_FILE


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
    "train a classifier on the space's embeddings.",
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
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item: id, label, score.")
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
    """
    if (labels is None) == (train_file is None):
        raise InvalidInput("Give --labels (zero-shot) or --train FILE (few-shot), one of the two.")
    path = resolve(target)
    if train_file is not None:
        if not (path / DATABASE_FILE).exists():
            raise InvalidInput(f"Few-shot classification works on a space; '{target}' is not one.")
        texts, names = _examples(Path(train_file), text_field, label_field)
        with Space.open(path) as space, Progress(f"Training on {len(texts)} examples"):
            results = few_shot(space, texts, names)
        _print(results, as_json=as_json)
        return
    assert labels is not None
    if (path / DATABASE_FILE).exists():
        with Space.open(path) as space, Progress(f"Classifying the items of {space.name}"):
            results = classify_space(space, labels, template=template)
    elif Path(target).is_dir():
        results = _classify_folder(Path(target), labels, encoder, template)
    else:
        raise InvalidInput(
            f"'{target}' is neither a space nor a folder of images. "
            "See 'embedspace spaces' for the spaces there are."
        )
    _print(results, as_json=as_json)


def _classify_folder(
    folder: Path, labels: str, encoder: str, template: str | None
) -> list[Classification]:
    records: list[Record] = []
    skipped = []
    with Progress(f"Reading {folder}"):
        for item in read_image_records(folder):
            if isinstance(item, Record):
                records.append(item)
            else:
                skipped.append(item)
    for item in skipped:
        click.echo(f"Skipped {item}", err=True)
    if not records:
        raise InvalidInput(f"No readable images in {folder}.")
    with Progress(f"Classifying {len(records):,} images"):
        return classify_images(
            [r.content for r in records],
            labels,
            encoder=encoder,
            template=template,
            ids=[r.id for r in records],
        )


def _examples(path: Path, text_field: str, label_field: str) -> tuple[list[str], list[str]]:
    from embedspace.io import read_rows

    texts, names = [], []
    for number, row in read_rows(path):
        text, label = row.get(text_field), row.get(label_field)
        if not isinstance(text, str) or not text.strip() or label is None or not str(label).strip():
            raise InvalidInput(
                f"{path}, row {number}: needs a '{text_field}' and a '{label_field}' value "
                "(name other columns with --text-field/--label-field)."
            )
        texts.append(text.strip())
        names.append(str(label).strip())
    return texts, names


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
