"""``embedspace index``: read files into a space (created on first use)."""

from __future__ import annotations

import click

from embedspace.cli.output import emit_json, plural
from embedspace.cli.progress import Stages
from embedspace.ops.chunking import DEFAULT_OVERLAP
from embedspace.ops.ingest import SOURCE_KEY, IngestReport, ingest
from embedspace.ops.ray_engine import ENGINES, engine_named
from embedspace.store.database import ANN_KINDS


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
@click.option(
    "--sync",
    is_flag=True,
    help=f"Also remove the items read earlier from these FILES that are no longer in them "
    f"(each item records its file or folder in the metadata field '{SOURCE_KEY}').",
)
@click.option(
    "--chunk-tokens",
    type=click.IntRange(min=0),
    metavar="N",
    help="Store texts longer than N tokens as passages of at most N tokens, cut at "
    "sentence ends (default: what the encoder reads, minilm-l6 256; 0: never split). "
    "Searches then rank documents by their best passage.",
)
@click.option(
    "--chunk-overlap",
    type=click.IntRange(min=0),
    metavar="N",
    help=f"Tokens each passage repeats from the end of the one before (default: "
    f"{DEFAULT_OVERLAP}, at most an eighth of --chunk-tokens).",
)
@click.option(
    "--ann",
    type=click.Choice(ANN_KINDS),
    help="For a new space, how its HNSW index (50,000 items and more) holds the vectors: "
    "hnsw (float32 copies; the default), hnsw-fp16 (~0.6 of its bytes) or hnsw-sq8 (8-bit "
    "codes, half the links: ~0.3); the last two re-score their candidates from the "
    "full-precision vectors the space keeps (recall and sizes: bench/RESULTS.md §21).",
)
@click.option(
    "--keyword-index",
    type=click.Choice(["porter", "trigram"]),
    help="For a new space, the keyword index (search --mode keyword/hybrid): porter (words; "
    "case, accents and English endings folded; the default) or trigram (any 3+ characters: "
    "codes and partial words).",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="local",
    show_default=True,
    help="Where texts are embedded: in this process, or on Ray (a local Ray started for the "
    "run, or the cluster at --address); the space is written here either way.",
)
@click.option("--address", help="With --engine ray: the Ray cluster (ray://host:10001).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="With --engine ray: embedding actors (default: one per CPU of the cluster).",
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
    sync: bool,
    chunk_tokens: int | None,
    chunk_overlap: int | None,
    keyword_index: str | None,
    ann: str | None,
    engine: str,
    address: str | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Embed FILES into SPACE: CSV/TSV, JSONL, JSON, Parquet, or text (one item per line),
    image files, HTML pages and PDFs (one item per page), and folders of these and of text
    files (.txt, .md: one item per file), searched recursively. Texts longer than the
    encoder reads are stored as passages (see --chunk-tokens).

    Items whose text (or image file) is unchanged are not embedded again, so re-running on
    an edited file or folder is cheap; --sync also removes what was deleted from it. Other
    columns (numbers, true/false and text, typed from the values), a 'metadata' column of
    objects (as 'embedspace export' writes), each file's path and size, and the file or
    folder an item came from ('_source') are kept as metadata for --where filters.

    Every file is read and checked before anything is written; unreadable images and text
    files in folders are reported and skipped. Items are then written in batches of 1,024,
    each atomic, so an interrupted run keeps what it wrote and resumes when run again. A
    new space's folder must go into an existing folder (bare names live in
    $EMBEDSPACE_HOME).

    \b
    Examples:
      embedspace index news headlines.csv --text-field headline --id-field id
      embedspace index news headlines.csv --text-field headline --sync   # after edits
      embedspace index manuals ./manuals --chunk-tokens 128   # long documents as passages
      embedspace index big corpus.parquet --text-field text --ann hnsw-sq8   # a smaller index
      embedspace index notes ./notes                  # every .txt and .md file, one item each
      embedspace index ./papers.space papers.parquet --text-field title --text-field abstract
      embedspace index photos ./holiday-photos                 # search by image or text
      embedspace index shoes ./catalogue --encoder efficientnet-lite0   # by image only
      embedspace index copy news.parquet --vector-field vector   # from 'embedspace export'
      embedspace index big corpus.parquet --text-field text --engine ray   # local Ray
      embedspace index big corpus.parquet --text-field text --engine ray \\
          --address ray://head:10001
    """
    with Stages() as progress:
        report = ingest(
            space,
            files,
            text_fields=text_fields,
            id_field=id_field,
            vector_field=vector_field,
            encoder=encoder,
            metric=metric,
            skip_invalid=skip_invalid,
            sync=sync,
            chunk_tokens=chunk_tokens,
            chunk_overlap=chunk_overlap,
            keyword_index=keyword_index,
            ann=ann,
            engine=engine_named(engine, address=address, workers=workers),
            on_progress=progress,
        )
    _print_report(report, as_json=as_json)


def _print_report(report: IngestReport, *, as_json: bool) -> None:
    _print_rejections(report)
    if report.truncated:
        click.echo(
            f"Note: {plural(report.truncated, 'item')} were longer than the encoder reads "
            "(minilm-l6: 256 tokens, about 190 words) and were cut to fit, so only their "
            "beginning is searchable. Leave --chunk-tokens at its default to index long "
            "texts as passages.",
            err=True,
        )
    if report.split:
        click.echo(
            f"Split {plural(report.split, 'long document')} into "
            f"{plural(report.passages, 'passage')} (searches rank documents by their best "
            "passage; --passages lists passages).",
            err=True,
        )
    if as_json:
        counts = {
            "space": report.space,
            "added": report.added,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": len(report.rejected),
            "embedded": report.embedded,
            "count": report.count,
            "seconds": report.seconds,
            "truncated": report.truncated,
            "split": report.split,
            "passages": report.passages,
        }
        emit_json([counts if report.removed is None else counts | {"removed": report.removed}])
        return
    removed = "" if report.removed is None else f", {report.removed:,} removed"
    click.echo(
        f"Indexed {plural(report.read, 'item')} into '{report.space}' in "
        f"{report.seconds:.1f} s: {report.added:,} added, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged{removed}, {len(report.rejected):,} rejected "
        f"({report.embedded:,} embedded; {report.count:,} in the space)."
    )


def _print_rejections(report: IngestReport) -> None:
    for reason in report.rejected[:5]:
        click.echo(f"Skipped {reason}", err=True)
    if len(report.rejected) > 5:
        click.echo(f"… and {len(report.rejected) - 5} more skipped.", err=True)


COMMANDS = [index_command]
