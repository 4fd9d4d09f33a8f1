"""``embedspace index``: read files into a space (created on first use)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import click

from embedspace.cli.output import emit_json
from embedspace.encoders import Encoder
from embedspace.encoders import get as get_encoder
from embedspace.errors import InvalidInput
from embedspace.io import Record, Rejection, read_image_records, read_records
from embedspace.io.images import is_image_path
from embedspace.store import Space, WriteResult, resolve
from embedspace.store.database import DATABASE_FILE

BATCH = 1024


@click.command("index")
@click.argument("space")
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--text-field",
    "text_fields",
    multiple=True,
    metavar="F",
    help="Column(s) holding the text; several are joined. Default: text, content, "
    "body, sentence, headline or title.",
)
@click.option(
    "--id-field",
    metavar="F",
    help="Column holding ids (default: 'id' if present, else a hash of the text).",
)
@click.option(
    "--vector-field",
    metavar="F",
    help="Column holding ready-made vectors to store instead of embedding (JSON lists).",
)
@click.option(
    "--encoder",
    metavar="NAME",
    help="Encoder for a new space (default minilm-l6 for text, imagenet-bridge for "
    "images), or a model directory. An existing space keeps its own.",
)
@click.option(
    "--metric",
    type=click.Choice(["cosine", "dot", "euclidean"]),
    default=None,
    help="Metric of a new space (default cosine); an existing space keeps its own.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Skip (and count) rows without text or id instead of stopping at the first one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
def index_command(
    space: str,
    files: tuple[str, ...],
    text_fields: tuple[str, ...],
    id_field: str | None,
    vector_field: str | None,
    encoder: str | None,
    metric: str | None,
    skip_invalid: bool,
    as_json: bool,
) -> None:
    """Embed FILES into SPACE: CSV/TSV, JSONL, JSON, Parquet, or text (one item per line),
    and image files or folders of images (JPEG, PNG, WebP, GIF, BMP; searched recursively).

    Items whose text (or image file) is unchanged are not embedded again, so re-running on
    an edited file or folder is cheap. Other columns, and each image's path, size and
    dimensions, are kept as metadata for --where filters. Every file is read and checked
    before anything is written; corrupt images are reported and skipped. Items are then
    written in batches of 1,024, each atomic, so an interrupted run keeps what it wrote and
    resumes when run again.

    \b
    Examples:
      embedspace index news headlines.csv --text-field headline --id-field id
      embedspace index notes notes.txt
      embedspace index ./papers.space papers.parquet --text-field title --text-field abstract
      embedspace index photos ./holiday-photos                 # search by image or text
      embedspace index shoes ./catalogue --encoder efficientnet-lite0   # by image only
    """
    started = time.perf_counter()
    records, rejected = _read_all(files, text_fields, id_field, vector_field, skip_invalid)
    if not records:
        raise InvalidInput(
            f"No items to index in {', '.join(files)}: the files hold no text rows or images."
        )
    path = resolve(space)
    modalities = {r.modality for r in records}
    if (path / DATABASE_FILE).exists():
        target = Space.open(path, encoder=encoder)
        if metric is not None and metric != target.stamp.metric:
            target.close()
            raise InvalidInput(
                f"Space '{space}' uses the {target.stamp.metric} metric; --metric only applies "
                "when a space is created. Drop --metric, or index into a new space."
            )
    else:
        default = "imagenet-bridge" if "image" in modalities else "minilm-l6"
        chosen = get_encoder(encoder or default)
        _check_modalities(chosen, modalities)  # before creating anything
        target = Space.create(path, encoder=chosen, metric=metric or "cosine")
    with target:
        _check_modalities(target.encoder, modalities)
        total = _write(target, records)
        target.optimize()
        seconds = time.perf_counter() - started
        counts = {
            "space": target.name,
            "added": total.added,
            "updated": total.updated,
            "unchanged": total.unchanged,
            "rejected": len(rejected),
            "embedded": total.embedded,
            "count": len(target),
            "seconds": round(seconds, 3),
        }
    if as_json:
        emit_json([counts])
        return
    click.echo(
        f"Indexed {len(records)} items into '{counts['space']}' in {seconds:.1f} s: "
        f"{total.added} added, {total.updated} updated, {total.unchanged} unchanged, "
        f"{len(rejected)} rejected ({total.embedded} embedded; {counts['count']} in the space)."
    )


def _check_modalities(encoder: Encoder, modalities: set[str]) -> None:
    missing = modalities - set(encoder.modalities)
    if "image" in missing:
        raise InvalidInput(
            f"Encoder '{encoder.name}' embeds text, not images; nothing was written. Index "
            "images with an image encoder: imagenet-bridge (also searchable by text), "
            "efficientnet-lite0, an alignment model or a CLIP directory."
        )
    if "text" in missing:
        raise InvalidInput(
            f"Encoder '{encoder.name}' embeds images, not text; nothing was written. Put "
            "text in a text space, or use a text-and-image encoder (imagenet-bridge, CLIP)."
        )


def _read_all(
    files: Sequence[str],
    text_fields: tuple[str, ...],
    id_field: str | None,
    vector_field: str | None,
    skip_invalid: bool,
) -> tuple[list[Record], list[Rejection]]:
    records: dict[str, Record] = {}
    rejected: list[Rejection] = []
    for file in files:
        images = Path(file).is_dir() or is_image_path(Path(file))
        items = (
            read_image_records(file)
            if images
            else read_records(
                file, text_fields=text_fields, id_field=id_field, vector_field=vector_field
            )
        )
        for item in items:
            if images and isinstance(item, Rejection):
                rejected.append(item)  # a corrupt photo never stops a run: report, skip
                continue
            if isinstance(item, Record) and item.id in records:
                if records[item.id].content == item.content:
                    continue  # the same text twice, with a derived id: one item
                item = Rejection(file, 0, f"repeats id '{item.id}' from an earlier file")
            if isinstance(item, Rejection):
                if not skip_invalid:
                    raise InvalidInput(
                        f"{item}. Nothing was written. Fix the row, or pass --skip-invalid "
                        "to index the other rows."
                    )
                rejected.append(item)
                continue
            records[item.id] = item
    for reason in rejected[:5]:
        click.echo(f"Skipped {reason}", err=True)
    if len(rejected) > 5:
        click.echo(f"… and {len(rejected) - 5} more rows skipped.", err=True)
    return list(records.values()), rejected


def _write(space: Space, records: list[Record]) -> WriteResult:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    added = updated = unchanged = embedded = 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"Indexing into {space.name}", total=len(records))
        for start in range(0, len(records), BATCH):
            batch = records[start : start + BATCH]
            result = space.upsert_records(batch)
            added += result.added
            updated += result.updated
            unchanged += result.unchanged
            embedded += result.embedded
            progress.advance(task, len(batch))
    return WriteResult(added, updated, unchanged, embedded)


COMMANDS = [index_command]
