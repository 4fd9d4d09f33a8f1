"""``embedspace cluster``: groups of similar items in a space."""

from __future__ import annotations

import click

from embedspace.cli.options import json_option, k_option, seed_option, where_option
from embedspace.cli.output import emit_json, parse_where, print_table, shorten
from embedspace.cli.progress import Stages
from embedspace.ops.cluster import SpaceClusters, cluster_space
from embedspace.store import Space


@click.command("cluster")
@click.argument("space")
@k_option("Number of clusters (k-means).", default=None, smallest=2)
@click.option(
    "--auto",
    is_flag=True,
    help="Find the clusters by density (HDBSCAN); some items stay unclustered (-1).",
)
@click.option(
    "--min-cluster-size",
    type=click.IntRange(min=2),
    help="With --auto: smallest cluster (default 1% of items, at least 5).",
)
@click.option(
    "--write",
    "write_field",
    metavar="FIELD",
    help="Store each item's cluster in this metadata field (refused if items have that "
    "field already, unless --overwrite).",
)
@click.option("--overwrite", is_flag=True, help="With --write: replace what the field holds.")
@seed_option()
@where_option
@json_option("One JSON object per item: id, cluster.")
def cluster_command(
    space: str,
    k: int | None,
    auto: bool,
    min_cluster_size: int | None,
    write_field: str | None,
    overwrite: bool,
    seed: int,
    where: tuple[str, ...],
    as_json: bool,
) -> None:
    """Group the items of SPACE into clusters, each with its size, central examples and
    keywords.

    \b
    Examples:
      embedspace cluster news -k 5
      embedspace cluster news --auto --write cluster
    """
    with Space.open(space) as opened, Stages() as progress:
        found = cluster_space(
            opened,
            k,
            auto=auto,
            min_cluster_size=min_cluster_size,
            seed=seed,
            where=parse_where(where),
            write_field=write_field,
            overwrite=overwrite,
            on_progress=progress,
        )
    _print(found, as_json=as_json)


def _print(found: SpaceClusters, *, as_json: bool) -> None:
    result, snapshot = found.clustering, found.snapshot
    if as_json:
        emit_json(
            {"id": i, "cluster": int(label)}
            for i, label in zip(result.ids, result.labels, strict=True)
        )
        return
    content = dict(zip(snapshot.ids, snapshot.contents, strict=True))
    print_table(
        f"{len(result.clusters)} clusters of {len(snapshot)} items"
        + (f" ({found.unclustered} in none)" if found.unclustered else ""),
        ["cluster", "size", "keywords", "central items"],
        [
            (
                c.label,
                c.size,
                ", ".join(c.keywords),
                " | ".join(shorten(content[i], 50) for i in c.central),
            )
            for c in result.clusters
        ],
    )
    if not result.clusters:
        click.echo(
            "No dense group found: try a smaller --min-cluster-size, or ask for a number of "
            "clusters with -k N instead of --auto.",
            err=True,
        )
    if found.written:
        click.echo(f"Wrote each item's cluster to metadata field '{found.written}'.", err=True)


COMMANDS = [cluster_command]
