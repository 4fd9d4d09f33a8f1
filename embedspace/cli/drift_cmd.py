"""``embedspace drift``: did the data change between two spaces, slices or files?"""

from __future__ import annotations

import click

from embedspace.cli.options import json_option, seed_option, text_fields_option
from embedspace.cli.output import emit_json, parse_where, print_table, shorten
from embedspace.cli.progress import Stages
from embedspace.ops.drift import Comparison, compare


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
@text_fields_option("Text column(s) of files.")
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
@seed_option()
@json_option("One JSON object: drift, p_value, effect_size, most_changed.")
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
    with Stages() as progress:
        found = compare(
            reference,
            current,
            reference_where=parse_where(reference_where),
            current_where=parse_where(current_where),
            encoder=encoder,
            text_fields=text_fields,
            alpha=alpha,
            permutations=permutations,
            seed=seed,
            on_progress=progress,
        )
    _print(found, as_json=as_json)


def _print(found: Comparison, *, as_json: bool) -> None:
    result = found.result
    if as_json:
        emit_json([found.as_dict()])
        return
    verdict = "DRIFT" if result.drift else "no drift detected"
    click.echo(
        f"{verdict}: p = {result.p_value:.4f} (alpha {result.alpha}), effect size (MMD) "
        f"{result.effect_size:.4f}; {result.reference_size} reference vs "
        f"{result.current_size} current items."
    )
    print_table(
        "Current items least like the reference",
        ["id", "similarity to nearest reference item", "item"],
        [(c.id, c.similarity, shorten(str(c.content), 80)) for c in found.most_changed],
    )


COMMANDS = [drift_command]
