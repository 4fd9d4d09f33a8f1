"""Pictures of embeddings: ``heatmap`` (a similarity matrix) and ``map`` (a space projected
to 2D or 3D, like an embedding projector)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from embedspace.cli.output import parse_where, plural
from embedspace.cli.progress import Progress
from embedspace.errors import InvalidInput
from embedspace.io import Record, read_records
from embedspace.store import Space


@click.command("heatmap")
@click.argument("sentences", nargs=-1)
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False),
    help="Read the sentences from a file (one per line, or a table with --text-field).",
)
@click.option(
    "--text-field", "text_fields", multiple=True, metavar="F", help="Text column of --file."
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Picture file: .png or .html, in an existing folder.",
)
@click.option(
    "--encoder", default="minilm-l6", show_default=True, help="Encoder for the sentences."
)
def heatmap_command(
    sentences: tuple[str, ...],
    file: str | None,
    text_fields: tuple[str, ...],
    output: str,
    encoder: str,
) -> None:
    """Draw how similar every pair of SENTENCES is (cosine), like the Universal Sentence
    Encoder figure: related sentences light up in blocks.

    \b
    Example:
      embedspace heatmap "How old are you?" "What is your age?" "My phone is good." \\
          "Your cellphone looks great." -o heat.png
    """
    from embedspace.cli.plotting import check_output, heatmap
    from embedspace.ops import similarity_matrix

    target = Path(output)
    check_output(target)
    texts = list(sentences)
    if file:
        texts += [
            r.content for r in read_records(file, text_fields=text_fields) if isinstance(r, Record)
        ]
    if len(texts) < 2:
        raise InvalidInput("Give at least two sentences (as arguments or with --file).")
    if len(texts) > 60:
        raise InvalidInput(
            f"{len(texts)} sentences would be unreadable; a heatmap holds up to 60. "
            "Try 'embedspace map'."
        )
    with Progress(f"Embedding {plural(len(texts), 'sentence')}"):
        matrix = similarity_matrix(texts, texts, encoder=encoder)
    heatmap(np.asarray(matrix), texts, target, title=f"Cosine similarity ({encoder})")
    click.echo(f"Wrote {target} ({len(texts)} x {len(texts)}).")


@click.command("map")
@click.argument("space")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Picture file: .html (interactive, hover text) or .png, in an existing folder.",
)
@click.option(
    "--method",
    type=click.Choice(["pca", "tsne", "umap"]),
    default="pca",
    show_default=True,
    help="Projection.",
)
@click.option("--dims", type=click.IntRange(2, 3), default=2, show_default=True, help="2D or 3D.")
@click.option("--color", "colour", metavar="FIELD", help="Colour points by this metadata field.")
@click.option(
    "--limit",
    default=20_000,
    show_default=True,
    type=click.IntRange(min=2),
    help="Draw a random sample of at most this many items.",
)
@click.option(
    "--where", multiple=True, metavar="KEY=VALUE", help="Only items whose metadata matches."
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Random seed (sampling, t-SNE, UMAP)."
)
def map_command(
    space: str,
    output: str,
    method: str,
    dims: int,
    colour: str | None,
    limit: int,
    where: tuple[str, ...],
    seed: int,
) -> None:
    """Project SPACE to 2D or 3D and draw it, points coloured by a metadata field, each
    showing its id and text on hover (HTML).

    \b
    Examples:
      embedspace map news -o news.html --color topic
      embedspace map photos -o photos.png --method tsne
    """
    from embedspace.cli.plotting import check_output, points
    from embedspace.ops.projection import project

    target = Path(output)
    check_output(target)
    with Space.open(space) as opened:
        snapshot = opened.snapshot(parse_where(where))
    if len(snapshot) < 2:
        raise InvalidInput(f"'{space}' has fewer than two items to draw.")
    rows = np.arange(len(snapshot))
    if len(rows) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))
    if colour and all(colour not in snapshot.metadata[i] for i in rows):
        fields = sorted({k for i in rows[:200] for k in snapshot.metadata[i]})
        raise InvalidInput(
            f"No item has a metadata field '{colour}'; fields: {', '.join(fields) or 'none'}."
        )
    with Progress(f"Projecting {plural(len(rows), 'item')} with {method.upper()}"):
        coordinates = project(snapshot.vectors[rows], dims, method, seed)
    hover = [f"{snapshot.ids[i]}: {' '.join(snapshot.contents[i].split())[:120]}" for i in rows]
    colours = [str(snapshot.metadata[i].get(colour, "(none)")) for i in rows] if colour else None
    title = f"{opened.name}: {len(rows)} of {len(snapshot)} items, {method.upper()} {dims}D"
    points(coordinates, hover, colours, target, title=title, colour_name=colour or "")
    click.echo(f"Wrote {target} ({title}).")


COMMANDS = [heatmap_command, map_command]
