"""``embedspace embed`` and ``embedspace similarity``: vectors and scores without a space."""

from __future__ import annotations

from pathlib import Path

import click

from embedspace.cli.options import json_option, text_fields_option
from embedspace.cli.output import emit_json
from embedspace.cli.progress import Stages
from embedspace.io.vector_files import check_vector_file, write_vectors
from embedspace.ops import similarity
from embedspace.ops.embedding import EmbeddedItems, embed_items


@click.command("embed")
@click.argument("texts", nargs=-1)
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    metavar="FILE",
    help="Read items from a file (CSV, JSONL, JSON, Parquet or text); repeatable.",
)
@text_fields_option("Text column(s).")
@click.option("--id-field", metavar="F", help="Id column (default 'id', else a text hash).")
@click.option(
    "--encoder",
    metavar="NAME",
    default="minilm-l6",
    show_default=True,
    help="Encoder name or model directory.",
)
@click.option(
    "-o",
    "--output",
    metavar="OUT",
    help="Write to OUT.npy, OUT.parquet or OUT.jsonl, in an existing folder (default: JSON "
    "Lines on stdout).",
)
def embed_command(
    texts: tuple[str, ...],
    files: tuple[str, ...],
    text_fields: tuple[str, ...],
    id_field: str | None,
    encoder: str,
    output: str | None,
) -> None:
    """Embed TEXTS (and/or the items of --file) and write the vectors.

    .npy holds the float32 matrix in input order; .parquet and .jsonl hold id, text and
    vector per row. Files are written atomically: never half a file.

    \b
    Examples:
      embedspace embed "a cat" "a kitten" -o pets.npy
      embedspace embed -f headlines.csv --text-field headline -o headlines.parquet
    """
    path = Path(output) if output is not None else None
    if path is not None:
        check_vector_file(path)  # before any work
    with Stages() as progress:
        found = embed_items(
            texts,
            files,
            text_fields=text_fields,
            id_field=id_field,
            encoder=encoder,
            on_progress=progress,
        )
    _write(found, path)


def _write(found: EmbeddedItems, path: Path | None) -> None:
    """The vectors to ``path``, or as JSON Lines on stdout without one."""
    if path is None:
        emit_json(
            {"id": r.id, "text": r.content, "vector": v.tolist()}
            for r, v in zip(found.records, found.vectors, strict=True)
        )
        return
    write_vectors(path, found.records, found.vectors)
    click.echo(
        f"Wrote {len(found.records)} vectors of {found.vectors.shape[1]} dimensions to {path}.",
        err=True,
    )


@click.command("similarity")
@click.argument("first")
@click.argument("second")
@click.option(
    "--metric",
    type=click.Choice(["cosine", "dot", "euclidean"]),
    default="cosine",
    show_default=True,
    help="How to score: cosine similarity, dot product, or minus the euclidean distance.",
)
@click.option("--encoder", metavar="NAME", default="minilm-l6", show_default=True, help="Encoder.")
@json_option("One JSON object.")
def similarity_command(first: str, second: str, metric: str, encoder: str, as_json: bool) -> None:
    """How similar two texts are, as one score.

    Scores are higher-is-better for every metric, as in search results and the Python API
    (es.similarity): cosine similarity (1 = same direction), dot product, or minus the
    euclidean distance (-0.68 means 0.68 apart).

    \b
    Example:
      embedspace similarity "Are Burritos the Next Taco?" "food"
    """
    score = similarity(first, second, metric=metric, encoder=encoder)
    if as_json:
        emit_json([{"metric": metric, "score": round(score, 6)}])
    else:
        click.echo(f"{score:.4f}")


COMMANDS = [embed_command, similarity_command]
