"""``embedspace embed`` and ``embedspace similarity``: vectors and scores without a space."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from embedspace.cli.output import emit_json
from embedspace.cli.progress import Stages
from embedspace.errors import InvalidInput
from embedspace.io import Record, read_records
from embedspace.io.outputs import check_output_file, write_file
from embedspace.ops import similarity
from embedspace.ops.embedding import embed_texts

_FORMATS = (".npy", ".parquet", ".jsonl")


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
@click.option("--text-field", "text_fields", multiple=True, metavar="F", help="Text column(s).")
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
        check_output_file(path, _FORMATS)  # before any work
    records = [Record(id=str(i), content=t) for i, t in enumerate(texts)]
    for file in files:
        for item in read_records(file, text_fields=text_fields, id_field=id_field):
            if not isinstance(item, Record):
                raise InvalidInput(f"{item}. Fix the row first.")
            records.append(item)
    if not records:
        raise InvalidInput("Nothing to embed: give TEXTS or --file.")
    with Stages() as progress:
        vectors = embed_texts([r.content for r in records], encoder, on_progress=progress)
    if path is None:
        emit_json(
            {"id": r.id, "text": r.content, "vector": v.tolist()}
            for r, v in zip(records, vectors, strict=True)
        )
        return
    write_file(path, lambda temp: _write(temp, records, vectors))
    click.echo(
        f"Wrote {len(records)} vectors of {vectors.shape[1]} dimensions to {path}.", err=True
    )


def _write(temp: Path, records: list[Record], vectors: np.ndarray) -> None:
    """The vectors (.npy) or ids, texts and vectors (.parquet, .jsonl) into ``temp``."""
    suffix = temp.suffix.lower()
    if suffix == ".npy":
        with open(temp, "wb") as out:
            np.save(out, vectors)
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            {
                "id": [r.id for r in records],
                "text": [r.content for r in records],
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(vectors.reshape(-1)), vectors.shape[1]
                ),
            }
        )
        pq.write_table(table, temp)
    else:
        with open(temp, "w", encoding="utf-8") as out:
            for record, vector in zip(records, vectors, strict=True):
                row = {"id": record.id, "text": record.content, "vector": vector.tolist()}
                out.write(json.dumps(row) + "\n")


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
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
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
