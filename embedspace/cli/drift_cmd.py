"""``embedspace drift``: did the data change between two spaces, slices or files?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from embedspace.cli.output import emit_json, parse_where, print_table, shorten
from embedspace.cli.progress import Progress, Stages
from embedspace.errors import InvalidInput
from embedspace.io import Record, read_records
from embedspace.ops.embedding import embed_texts
from embedspace.store import Space, resolve
from embedspace.store.database import DATABASE_FILE


def _side(
    name: str, where: tuple[str, ...], text_fields: tuple[str, ...], encoder: Any
) -> tuple[list[str], np.ndarray, list[str], Any]:
    """ids, vectors, contents and the encoder of one side: a space (optionally a slice) or
    a file embedded with ``encoder``."""
    path = resolve(name)
    if (path / DATABASE_FILE).exists():
        with Space.open(path) as opened:
            snapshot = opened.snapshot(parse_where(where))
            used = opened.stamp.encoder
        if not len(snapshot):
            raise InvalidInput(
                f"No items in '{name}'" + (" match the --where filter." if where else ".")
            )
        return snapshot.ids, snapshot.vectors, snapshot.contents, used
    if where:
        raise InvalidInput(f"--where applies to spaces; '{name}' is a file.")
    if not Path(name).is_file():
        raise InvalidInput(f"'{name}' is neither a space nor a file.")
    records = [r for r in read_records(name, text_fields=text_fields) if isinstance(r, Record)]
    if not records:
        raise InvalidInput(f"{name} holds no text rows.")
    from embedspace.encoders import get

    chosen = get(encoder)
    with Stages() as progress:
        vectors = embed_texts([r.content for r in records], chosen, on_progress=progress)
    return [r.id for r in records], vectors, [r.content for r in records], chosen.name


@click.command("drift")
@click.argument("reference")
@click.argument("current")
@click.option(
    "--reference-where",
    multiple=True,
    metavar="KEY=VALUE",
    help="Slice of REFERENCE (a space) to use.",
)
@click.option(
    "--current-where", multiple=True, metavar="KEY=VALUE", help="Slice of CURRENT (a space) to use."
)
@click.option(
    "--encoder", metavar="NAME", help="Encoder for files (default: the space's, or minilm-l6)."
)
@click.option(
    "--text-field", "text_fields", multiple=True, metavar="F", help="Text column(s) of files."
)
@click.option(
    "--alpha",
    default=0.05,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Significance level.",
)
@click.option(
    "--permutations",
    default=500,
    show_default=True,
    type=click.IntRange(min=10),
    help="Permutations for the p-value.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object: drift, p_value, effect_size, most_changed.",
)
def drift_command(
    reference: str,
    current: str,
    reference_where: tuple[str, ...],
    current_where: tuple[str, ...],
    encoder: str | None,
    text_fields: tuple[str, ...],
    alpha: float,
    permutations: int,
    seed: int,
    as_json: bool,
) -> None:
    """Did the data change between REFERENCE and CURRENT? Each is a space, a slice of a
    space (--reference-where/--current-where), or a file of texts.

    \b
    Examples:
      embedspace drift tickets-june tickets-july
      embedspace drift tickets tickets --reference-where month=6 --current-where month=7
      embedspace drift last-month.csv this-week.csv --text-field message
    """
    from embedspace.ops.drift import drift_test

    spaces = [n for n in (reference, current) if (resolve(n) / DATABASE_FILE).exists()]
    default = encoder
    if default is None and spaces:
        with Space.open(spaces[0]) as opened:
            default = opened.stamp.encoder
    ref_ids, ref_vectors, _, ref_encoder = _side(
        reference, reference_where, text_fields, default or "minilm-l6"
    )
    cur_ids, cur_vectors, cur_contents, cur_encoder = _side(
        current, current_where, text_fields, default or "minilm-l6"
    )
    if ref_encoder != cur_encoder:
        raise InvalidInput(
            f"The two sides were embedded by different encoders ({ref_encoder}, "
            f"{cur_encoder}); compare like with like."
        )
    with Progress(f"Testing for drift ({permutations} permutations)"):
        result = drift_test(
            ref_vectors, cur_vectors, alpha=alpha, permutations=permutations, seed=seed
        )
    changed = [
        {"id": cur_ids[i], "similarity": s, "content": cur_contents[i]}
        for i, s in result.most_changed
    ]
    if as_json:
        emit_json(
            [
                {
                    "drift": result.drift,
                    "p_value": result.p_value,
                    "effect_size": result.effect_size,
                    "alpha": alpha,
                    "reference_size": result.reference_size,
                    "current_size": result.current_size,
                    "most_changed": changed,
                }
            ]
        )
        return
    verdict = "DRIFT" if result.drift else "no drift detected"
    click.echo(
        f"{verdict}: p = {result.p_value:.4f} (alpha {alpha}), effect size (MMD) "
        f"{result.effect_size:.4f}; {result.reference_size} reference vs "
        f"{result.current_size} current items."
    )
    print_table(
        "Current items least like the reference",
        ["id", "similarity to nearest reference item", "item"],
        [(c["id"], c["similarity"], shorten(str(c["content"]), 80)) for c in changed],
    )


COMMANDS = [drift_command]
