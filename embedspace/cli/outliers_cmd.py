"""``embedspace outliers``: the items of a space that fit the rest least."""

from __future__ import annotations

import click

from embedspace.cli.options import json_option, k_option, where_option
from embedspace.cli.output import emit_json, parse_where, print_table, shorten
from embedspace.cli.progress import Stages
from embedspace.ops.outliers import SpaceOutliers, find_outliers
from embedspace.store import Space


@click.command("outliers")
@click.argument("space")
@click.option(
    "--method",
    type=click.Choice(["knn", "lof", "iforest"]),
    default="knn",
    show_default=True,
    help="How unusualness is scored.",
)
@k_option("Neighbours (knn, lof).")
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
@where_option
@json_option("One JSON object per item, most unusual first: id, score, outlier.")
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
    with Space.open(space) as opened, Stages() as progress:
        found = find_outliers(
            opened, method, k, contamination, where=parse_where(where), on_progress=progress
        )
    _print(found, top, as_json=as_json)


def _print(found: SpaceOutliers, top: int | None, *, as_json: bool) -> None:
    ranked = found.ranked
    if as_json:
        emit_json(
            {"id": r.id, "score": r.score, "outlier": r.outlier}
            for r in ranked[: top or len(ranked)]
        )
        return
    content = dict(zip(found.snapshot.ids, found.snapshot.contents, strict=True))
    print_table(
        f"Most unusual of {len(ranked)} items ({found.flagged} past the threshold, "
        f"method {found.method})",
        ["rank", "id", "score", "outlier", "item"],
        [
            (n, r.id, r.score, "yes" if r.outlier else "", shorten(content[r.id], 80))
            for n, r in enumerate(ranked[: top or 20], 1)
        ],
    )


COMMANDS = [outliers_command]
