"""``embedspace classify``: zero-shot labels for the items of a space or a folder of images."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from embedspace.cli.output import emit_json, print_table
from embedspace.errors import InvalidInput
from embedspace.io import Record, read_image_records
from embedspace.ops.classify import Classification, classify_images, classify_space
from embedspace.store import Space, resolve
from embedspace.store.database import DATABASE_FILE


@click.command("classify")
@click.argument("target", metavar="SPACE_OR_FOLDER")
@click.option(
    "--labels", required=True, metavar="A,B,…", help="Comma-separated labels to choose from."
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
    target: str, labels: str, encoder: str, template: str | None, as_json: bool
) -> None:
    """Give every item of SPACE_OR_FOLDER the label that fits it best (zero-shot).

    Labels are embedded as text with the same encoder as the items; each item gets the
    label with the highest cosine similarity, and that similarity as its score. A folder is
    read for images (corrupt files are reported and skipped); anything else names a space.

    \b
    Examples:
      embedspace classify ./photos --labels "cat,rocket,coffee,horse"
      embedspace classify photos --labels "sneaker,sandal,bag" --json
      embedspace classify news --labels "sports,politics,food"
    """
    path = resolve(target)
    if (path / DATABASE_FILE).exists():
        with Space.open(path) as space:
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
    for item in read_image_records(folder):
        if isinstance(item, Record):
            records.append(item)
        else:
            click.echo(f"Skipped {item}", err=True)
    if not records:
        raise InvalidInput(f"No readable images in {folder}.")
    return classify_images(
        [r.content for r in records],
        labels,
        encoder=encoder,
        template=template,
        ids=[r.id for r in records],
        progress=True,
    )


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
