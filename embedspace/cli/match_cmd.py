"""``embedspace match`` and ``embedspace dedup-records``: fuzzy record matching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from embedspace.cli.output import emit_json, print_table
from embedspace.cli.progress import Progress
from embedspace.errors import InvalidInput
from embedspace.io import read_rows
from embedspace.ops.record_match import dedup_records, groups, match_records

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


def _table(path: str) -> list[dict[str, Any]]:
    rows = [row for _, row in read_rows(Path(path))]
    if not rows:
        raise InvalidInput(f"{path} holds no rows.")
    return rows


def _ids(rows: list[dict[str, Any]], field: str | None) -> list[str]:
    name = field or ("id" if all("id" in r for r in rows) else None)
    if name is None:
        return [str(i) for i in range(1, len(rows) + 1)]
    if any(name not in r for r in rows):
        raise InvalidInput(f"Some rows have no '{name}' field; name another with --id-field.")
    return [str(r[name]) for r in rows]


def _fields(on: str) -> list[str]:
    fields = [f.strip() for f in on.split(",") if f.strip()]
    if not fields:
        raise InvalidInput("--on needs at least one field name.")
    return fields


@click.command("match")
@click.argument("left", type=click.Path(dir_okay=False))
@click.argument("right", type=click.Path(dir_okay=False))
@_ON
@_ID
@_THRESHOLD
@_CANDIDATES
@_ENCODER
@_TEXT_WEIGHT
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per pair: left, right, score."
)
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
    fields = _fields(on)
    left_rows, right_rows = _table(left), _table(right)
    with Progress(f"Matching {len(left_rows):,} with {len(right_rows):,} records"):
        pairs = match_records(
            left_rows,
            right_rows,
            fields,
            threshold=threshold,
            candidates=candidates,
            encoder=encoder,
            text_weight=text_weight,
        )
    left_ids, right_ids = _ids(left_rows, id_field), _ids(right_rows, id_field)
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
        ["left", "right", "score", *fields],
        [
            (
                left_ids[p.left],
                right_ids[p.right],
                p.score,
                *(
                    f"{left_rows[p.left].get(f, '')} | {right_rows[p.right].get(f, '')}"
                    for f in fields
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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per group: members (ids), score (lowest pair score).",
)
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
    fields = _fields(on)
    rows = _table(file)
    with Progress(f"Comparing {len(rows):,} records"):
        pairs = dedup_records(
            rows,
            fields,
            threshold=threshold,
            candidates=candidates,
            encoder=encoder,
            text_weight=text_weight,
        )
    ids = _ids(rows, id_field)
    found = groups(pairs, len(rows))
    lowest: dict[int, float] = {}
    member_group = {m: g[0] for g in found for m in g}
    for pair in pairs:
        key = member_group[pair.left]
        lowest[key] = min(lowest.get(key, 1.0), pair.score)
    if as_json:
        emit_json({"members": [ids[m] for m in g], "score": lowest[g[0]]} for g in found)
        return
    if not found:
        click.echo(f"No duplicates at or above {threshold}.")
        return
    print_table(
        f"{len(found)} groups of likely duplicates ({sum(map(len, found))} records)",
        ["members", "score", "first record"],
        [
            (
                ", ".join(ids[m] for m in g),
                lowest[g[0]],
                " | ".join(str(rows[g[0]].get(f, "")) for f in fields),
            )
            for g in found
        ],
    )


COMMANDS = [match_command, dedup_records_command]
