"""Pictures of embeddings: ``heatmap`` (a similarity matrix) and ``map`` (a space projected
to 2D or 3D, like an embedding projector)."""

from __future__ import annotations

from pathlib import Path

import click

from embedspace.cli.options import seed_option, text_fields_option, where_option
from embedspace.cli.output import parse_where
from embedspace.cli.progress import Stages
from embedspace.render import draw_heatmap, draw_map


@click.command("heatmap")
@click.argument("sentences", nargs=-1)
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False),
    help="Read the sentences from a file (one per line, or a table with --text-field).",
)
@text_fields_option("Text column of --file.")
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
    with Stages() as progress:
        picture = draw_heatmap(
            sentences,
            Path(output),
            file=file,
            text_fields=text_fields,
            encoder=encoder,
            on_progress=progress,
        )
    click.echo(f"Wrote {picture.path} ({picture.count} x {picture.count}).")


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
@where_option
@seed_option("Random seed (sampling, t-SNE, UMAP).")
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
    with Stages() as progress:
        picture = draw_map(
            space,
            Path(output),
            method=method,
            dims=dims,
            colour=colour,
            limit=limit,
            where=parse_where(where),
            seed=seed,
            on_progress=progress,
        )
    click.echo(f"Wrote {picture.path} ({picture.title}).")


COMMANDS = [heatmap_command, map_command]
