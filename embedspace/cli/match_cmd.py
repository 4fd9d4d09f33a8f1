"""``embedspace match`` and ``embedspace dedup-records``: fuzzy record matching."""

from __future__ import annotations

import click

from embedspace.cli.options import json_option
from embedspace.cli.output import emit_json, print_table
from embedspace.cli.progress import Stages
from embedspace.ops.record_files import FileDuplicates, FileMatches, dedup_file, match_files

_ON = click.option(
    "--on", "on", required=True, metavar="F1,F2,…", help="Fields to compare, comma-separated."
)
_ID = click.option(
    "--id-field",
    metavar="F",
    help="Column with record ids (default: 'id' if present, else the row number).",
)
_THRESHOLD = click.option(
    "--threshold",
    default=0.7,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Lowest pair score kept (mean per-field similarity, 0..1).",
)
_ENCODER = click.option(
    "--encoder",
    metavar="NAME",
    help="Also compare meaning with this text encoder (e.g. minilm-l6): helps with "
    "synonyms and descriptions, not with names.",
)
_TEXT_WEIGHT = click.option(
    "--text-weight",
    default=0.3,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of the score that comes from --encoder.",
)
_CANDIDATES = click.option(
    "--candidates",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Nearest records scored per record.",
)


@click.command("match")
@click.argument("left", type=click.Path(dir_okay=False))
@click.argument("right", type=click.Path(dir_okay=False))
@_ON
@_ID
@_THRESHOLD
@_CANDIDATES
@_ENCODER
@_TEXT_WEIGHT
@json_option("One JSON object per pair: left, right, score.")
def match_command(
    left: str,
    right: str,
    on: str,
    id_field: str | None,
    threshold: float,
    candidates: int,
    encoder: str | None,
    text_weight: float,
    as_json: bool,
) -> None:
    """Find records of LEFT and RIGHT (CSV/JSONL/JSON/Parquet) that describe the same thing,
    despite typos, abbreviations and reordered words.

    \b
    Example:
      embedspace match customers.csv crm-export.csv --on name,city --threshold 0.8
    """
    with Stages() as progress:
        found = match_files(
            left,
            right,
            on,
            id_field=id_field,
            threshold=threshold,
            candidates=candidates,
            encoder=encoder,
            text_weight=text_weight,
            on_progress=progress,
        )
    _print_pairs(found, threshold, as_json=as_json)


def _print_pairs(found: FileMatches, threshold: float, *, as_json: bool) -> None:
    left_ids, right_ids, pairs = found.left_ids, found.right_ids, found.pairs
    if as_json:
        emit_json(
            {"left": left_ids[p.left], "right": right_ids[p.right], "score": p.score} for p in pairs
        )
        return
    if not pairs:
        click.echo(f"No pairs at or above {threshold}.")
        return
    print_table(
        f"{len(pairs)} likely pairs",
        ["left", "right", "score", *found.fields],
        [
            (
                left_ids[p.left],
                right_ids[p.right],
                p.score,
                *(
                    f"{found.left_rows[p.left].get(f, '')} | {found.right_rows[p.right].get(f, '')}"
                    for f in found.fields
                ),
            )
            for p in pairs
        ],
    )


@click.command("dedup-records")
@click.argument("file", type=click.Path(dir_okay=False))
@_ON
@_ID
@_THRESHOLD
@_CANDIDATES
@_ENCODER
@_TEXT_WEIGHT
@json_option("One JSON object per group: members (ids), score (lowest pair score).")
def dedup_records_command(
    file: str,
    on: str,
    id_field: str | None,
    threshold: float,
    candidates: int,
    encoder: str | None,
    text_weight: float,
    as_json: bool,
) -> None:
    """Find groups of records in FILE that are probably the same entity.

    \b
    Example:
      embedspace dedup-records people.csv --on given_name,surname,date_of_birth,suburb
    """
    with Stages() as progress:
        found = dedup_file(
            file,
            on,
            id_field=id_field,
            threshold=threshold,
            candidates=candidates,
            encoder=encoder,
            text_weight=text_weight,
            on_progress=progress,
        )
    _print_groups(found, threshold, as_json=as_json)


def _print_groups(found: FileDuplicates, threshold: float, *, as_json: bool) -> None:
    ids, rows = found.ids, found.rows
    if as_json:
        emit_json({"members": [ids[m] for m in g.members], "score": g.score} for g in found.groups)
        return
    if not found.groups:
        click.echo(f"No duplicates at or above {threshold}.")
        return
    print_table(
        f"{len(found.groups)} groups of likely duplicates "
        f"({sum(len(g.members) for g in found.groups)} records)",
        ["members", "score", "first record"],
        [
            (
                ", ".join(ids[m] for m in g.members),
                g.score,
                " | ".join(str(rows[g.members[0]].get(f, "")) for f in found.fields),
            )
            for g in found.groups
        ],
    )


COMMANDS = [match_command, dedup_records_command]
