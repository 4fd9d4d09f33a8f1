"""``embedspace fix``: correct typos in a text."""

from __future__ import annotations

from pathlib import Path

import click

from embedspace.cli.output import emit_json, print_table
from embedspace.errors import InvalidInput
from embedspace.ops.typos import Speller


def read_vocabulary(path: Path) -> tuple[list[str], list[int] | None]:
    """Words one per line, most frequent first, optionally followed by a count."""
    if not path.is_file():
        raise InvalidInput(f"No vocabulary file at {path}.")
    words: list[str] = []
    counts: list[int] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        words.append(parts[0])
        if len(parts) > 1:
            try:
                counts.append(int(parts[1]))
            except ValueError:
                raise InvalidInput(f"{path}, line {number}: the count must be a number.") from None
    if counts and len(counts) != len(words):
        raise InvalidInput(f"{path}: give a count on every line or on none.")
    if not words:
        raise InvalidInput(f"{path} holds no words.")
    return words, counts or None


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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object: text, and each word with its candidates.",
)
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
    if vocabulary:
        words, counts = read_vocabulary(Path(vocabulary))
        speller = Speller(words, counts, max_edits=max_edits)
    else:
        from embedspace.cli.words_cmd import load_words

        speller = Speller.from_word_vectors(load_words(model), limit=limit, max_edits=max_edits)
    result = speller.fix(text)
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
