"""``embedspace dedup``: duplicate and near-duplicate items of a space."""

from __future__ import annotations

from pathlib import Path

import click

from embedspace.cli.options import json_option, k_option, where_option
from embedspace.cli.output import emit_json, parse_where, print_table, shorten
from embedspace.cli.progress import Stages
from embedspace.ops.dedup import Calibration, Duplicates, calibrate_space, find_duplicates
from embedspace.store import Space


@click.command("dedup")
@click.argument("space")
@click.option(
    "--threshold",
    default=0.9,
    show_default=True,
    type=click.FloatRange(-1, 1),
    help="Lowest cosine similarity of a duplicate pair.",
)
@k_option("Neighbours examined per item.")
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
@where_option
@json_option("One JSON object per group: members, score, exact.")
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
    with Space.open(space) as opened, Stages() as progress:
        found: Calibration | Duplicates = (
            calibrate_space(
                opened,
                labels=Path(labels_file) if labels_file else None,
                k=k,
                where=parse_where(where),
                on_progress=progress,
            )
            if calibrate or labels_file
            else find_duplicates(
                opened, threshold=threshold, k=k, where=parse_where(where), on_progress=progress
            )
        )
    if isinstance(found, Calibration):
        _print_calibration(found, as_json=as_json)
    else:
        _print_groups(found, as_json=as_json)


def _print_calibration(calibration: Calibration, *, as_json: bool) -> None:
    rows = calibration.rows
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
    snapshot = calibration.snapshot
    content = dict(zip(snapshot.ids, snapshot.contents, strict=True))
    labelled = calibration.labelled
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


def _print_groups(found: Duplicates, *, as_json: bool) -> None:
    groups, snapshot = found.groups, found.snapshot
    if as_json:
        emit_json({"members": g.members, "score": g.score, "exact": g.exact} for g in groups)
        return
    if not groups:
        click.echo(
            f"No duplicates at or above {found.threshold} among {len(snapshot)} items. "
            "Try --calibrate."
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


COMMANDS = [dedup_command]
