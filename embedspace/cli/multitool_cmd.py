"""The multitool on a space: ``dedup``, ``cluster`` and ``outliers`` (``drift``, ``ask`` and
``chat`` are in their own modules)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from embedspace.cli.output import emit_json, parse_where, plural, print_table, shorten
from embedspace.cli.progress import Progress
from embedspace.errors import InvalidInput
from embedspace.store import Space


# ---------------------------------------------------------------------------- dedup
@click.command("dedup")
@click.argument("space")
@click.option(
    "--threshold",
    default=0.9,
    show_default=True,
    type=click.FloatRange(-1, 1),
    help="Lowest cosine similarity of a duplicate pair.",
)
@click.option(
    "-k",
    "k",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Neighbours examined per item.",
)
@click.option(
    "--calibrate",
    is_flag=True,
    help="Show what several thresholds would keep, with examples, instead.",
)
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(dir_okay=False),
    help="With --calibrate: a table of labelled pairs (columns first, second, "
    "duplicate: 1/0) for precision and recall.",
)
@click.option(
    "--where", multiple=True, metavar="KEY=VALUE", help="Only items whose metadata matches."
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per group: members, score, exact."
)
def dedup_command(
    space: str,
    threshold: float,
    k: int,
    calibrate: bool,
    labels_file: str | None,
    where: tuple[str, ...],
    as_json: bool,
) -> None:
    """Find groups of duplicate and near-duplicate items in SPACE.

    \b
    Examples:
      embedspace dedup news --threshold 0.9
      embedspace dedup news --calibrate                      # which threshold?
      embedspace dedup news --calibrate --labels pairs.csv   # precision/recall per threshold
    """
    from embedspace.ops.dedup import calibrate as run_calibration
    from embedspace.ops.dedup import duplicate_groups

    with Space.open(space) as opened:
        snapshot = opened.snapshot(parse_where(where))
    if calibrate or labels_file:
        labelled = _labelled_pairs(Path(labels_file)) if labels_file else []
        with Progress(f"Scoring pairs among {plural(len(snapshot), 'item')}"):
            rows = run_calibration(snapshot, labelled, k=k)
        if as_json:
            emit_json(
                {
                    "threshold": r.threshold,
                    "pairs": r.pairs,
                    "precision": r.precision,
                    "recall": r.recall,
                    "example": None
                    if r.example is None
                    else {
                        "first": r.example.first,
                        "second": r.example.second,
                        "score": r.example.score,
                    },
                }
                for r in rows
            )
            return
        content = dict(zip(snapshot.ids, snapshot.contents, strict=True))
        columns = (
            ["threshold", "pairs", "precision", "recall", "weakest pair kept"]
            if labelled
            else ["threshold", "pairs", "weakest pair kept"]
        )
        table = []
        for r in rows:
            example = (
                ""
                if r.example is None
                else f"{r.example.score:.3f}: {shorten(content[r.example.first], 40)} ≈ "
                f"{shorten(content[r.example.second], 40)}"
            )
            table.append(
                (r.threshold, r.pairs, r.precision, r.recall, example)
                if labelled
                else (r.threshold, r.pairs, example)
            )
        print_table(f"Duplicate pairs by threshold ({len(snapshot)} items)", columns, table)
        return
    with Progress(f"Finding duplicates among {plural(len(snapshot), 'item')}"):
        groups = duplicate_groups(snapshot, threshold, k)
    if as_json:
        emit_json({"members": g.members, "score": g.score, "exact": g.exact} for g in groups)
        return
    if not groups:
        click.echo(
            f"No duplicates at or above {threshold} among {len(snapshot)} items. Try --calibrate."
        )
        return
    content = dict(zip(snapshot.ids, snapshot.contents, strict=True))
    print_table(
        f"{len(groups)} groups of duplicates ({sum(len(g.members) for g in groups)} items)",
        ["members", "score", "kind", "first item"],
        [
            (
                ", ".join(g.members[:6]) + (" …" if len(g.members) > 6 else ""),
                g.score,
                "exact" if g.exact else "near",
                shorten(content[g.members[0]], 80),
            )
            for g in groups
        ],
    )


def _labelled_pairs(path: Path) -> list[tuple[str, str, bool]]:
    from embedspace.io import read_rows

    pairs = []
    for number, row in read_rows(path):
        try:
            flag = str(row["duplicate"]).strip().lower()
            pairs.append((str(row["first"]), str(row["second"]), flag in ("1", "true", "yes", "y")))
        except KeyError:
            raise InvalidInput(
                f"{path}, row {number}: needs columns first, second, duplicate."
            ) from None
    if not pairs:
        raise InvalidInput(f"{path} holds no labelled pairs.")
    return pairs


# -------------------------------------------------------------------------- cluster
@click.command("cluster")
@click.argument("space")
@click.option("-k", "k", type=click.IntRange(min=2), help="Number of clusters (k-means).")
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
    help="Store each item's cluster in this metadata field.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed.")
@click.option(
    "--where", multiple=True, metavar="KEY=VALUE", help="Only items whose metadata matches."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item: id, cluster.")
def cluster_command(
    space: str,
    k: int | None,
    auto: bool,
    min_cluster_size: int | None,
    write_field: str | None,
    seed: int,
    where: tuple[str, ...],
    as_json: bool,
) -> None:
    """Group the items of SPACE into clusters, each with its size, central examples and
    keywords.

    \b
    Examples:
      embedspace cluster news -k 5
      embedspace cluster news --auto --write topic
    """
    from embedspace.ops.cluster import cluster

    with Space.open(space) as opened:
        snapshot = opened.snapshot(parse_where(where))
        words = opened.encoder if "text" in opened.encoder.modalities else None
        with Progress(f"Clustering {plural(len(snapshot), 'item')}"):
            result = cluster(
                snapshot, k, auto=auto, min_cluster_size=min_cluster_size, seed=seed, encoder=words
            )
        if write_field:
            opened.update_metadata(
                {
                    i: {write_field: int(label)}
                    for i, label in zip(result.ids, result.labels, strict=True)
                }
            )
    if as_json:
        emit_json(
            {"id": i, "cluster": int(label)}
            for i, label in zip(result.ids, result.labels, strict=True)
        )
        return
    content = dict(zip(snapshot.ids, snapshot.contents, strict=True))
    unclustered = int(np.sum(result.labels == -1))
    print_table(
        f"{len(result.clusters)} clusters of {len(snapshot)} items"
        + (f" ({unclustered} in none)" if unclustered else ""),
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
    if write_field:
        click.echo(f"Wrote each item's cluster to metadata field '{write_field}'.", err=True)


# ------------------------------------------------------------------------- outliers
@click.command("outliers")
@click.argument("space")
@click.option(
    "--method",
    type=click.Choice(["knn", "lof", "iforest"]),
    default="knn",
    show_default=True,
    help="How unusualness is scored.",
)
@click.option(
    "-k",
    "k",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Neighbours (knn, lof).",
)
@click.option(
    "--contamination",
    type=click.FloatRange(0, 0.5, min_open=True, max_open=True),
    help="Expected share of outliers (sets the threshold); default: a robust 3-sigma rule.",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    help="Show only the N most unusual (default: 20 in the table, all with --json).",
)
@click.option(
    "--where", multiple=True, metavar="KEY=VALUE", help="Only items whose metadata matches."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per item, most unusual first: id, score, outlier.",
)
def outliers_command(
    space: str,
    method: str,
    k: int,
    contamination: float | None,
    top: int | None,
    where: tuple[str, ...],
    as_json: bool,
) -> None:
    """Rank the items of SPACE by how little they fit the rest.

    \b
    Examples:
      embedspace outliers news --top 5
      embedspace outliers logs --method lof --contamination 0.01 --json
    """
    from embedspace.ops.outliers import outliers

    with Space.open(space) as opened:
        snapshot = opened.snapshot(parse_where(where))
        metric = "cosine" if opened.stamp.metric == "cosine" else "euclidean"
    with Progress(f"Scoring {plural(len(snapshot), 'item')} ({method})"):
        ranked = outliers(snapshot, method, k, contamination, metric=metric)
    if as_json:
        emit_json(
            {"id": r.id, "score": r.score, "outlier": r.outlier}
            for r in ranked[: top or len(ranked)]
        )
        return
    content = dict(zip(snapshot.ids, snapshot.contents, strict=True))
    flagged = sum(r.outlier for r in ranked)
    print_table(
        f"Most unusual of {len(ranked)} items ({flagged} past the threshold, method {method})",
        ["rank", "id", "score", "outlier", "item"],
        [
            (n, r.id, r.score, "yes" if r.outlier else "", shorten(content[r.id], 80))
            for n, r in enumerate(ranked[: top or 20], 1)
        ],
    )


COMMANDS = [dedup_command, cluster_command, outliers_command]
