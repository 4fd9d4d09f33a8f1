"""``embedspace fix``: correct typos in a text."""

from __future__ import annotations

from pathlib import Path

import click

from embedspace.cli.options import json_option
from embedspace.cli.output import emit_json, print_table
from embedspace.ops.typos import FixResult, fix_text


@click.command("fix")
@click.argument("text")
@click.option(
    "--model",
    default="glove-50",
    show_default=True,
    metavar="NAME|PATH",
    help="Word vectors whose vocabulary (frequency order) and context are used.",
)
@click.option(
    "--vocabulary",
    type=click.Path(dir_okay=False),
    help="Your own word list instead: one word per line, most frequent first, "
    "optionally 'word count'.",
)
@click.option(
    "--words",
    "limit",
    default=100_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most frequent words of --model to use.",
)
@click.option(
    "--max-edits",
    default=2,
    show_default=True,
    type=click.IntRange(1, 3),
    help="Farthest correction considered.",
)
@json_option("One JSON object: text, and each word with its candidates.")
def fix_command(
    text: str, model: str, vocabulary: str | None, limit: int, max_edits: int, as_json: bool
) -> None:
    """Correct the typos in TEXT, showing the candidates for every changed word.

    \b
    Examples:
      embedspace fix "teh qiuck brwon fox"
      embedspace fix "recieve the pakage" --json
      embedspace fix "embedspace is grate" --vocabulary my-words.txt
    """
    result = fix_text(
        text,
        model=model,
        vocabulary=Path(vocabulary) if vocabulary else None,
        limit=limit,
        max_edits=max_edits,
    )
    _print(result, as_json=as_json)


def _print(result: FixResult, *, as_json: bool) -> None:
    if as_json:
        emit_json(
            [
                {
                    "text": result.text,
                    "words": [
                        {
                            "original": w.original,
                            "corrected": w.corrected,
                            "changed": w.changed,
                            "candidates": [
                                {"word": c.word, "probability": c.probability, "edits": c.edits}
                                for c in w.candidates
                            ],
                        }
                        for w in result.words
                    ],
                }
            ]
        )
        return
    click.echo(result.text)
    changed = [w for w in result.words if w.changed or not w.candidates]
    if changed:
        print_table(
            None,
            ["word", "corrected", "candidates (probability)"],
            [
                (
                    w.original,
                    w.corrected if w.candidates else "(unknown, kept)",
                    ", ".join(f"{c.word} {c.probability:.2f}" for c in w.candidates[:4]),
                )
                for w in changed
            ],
        )


COMMANDS = [fix_command]
