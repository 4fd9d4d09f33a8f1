"""``embedspace ask`` and ``embedspace chat``: answers from a FAQ space."""

from __future__ import annotations

from typing import Any

import click

from embedspace.cli.options import json_option
from embedspace.cli.output import emit_json, shorten
from embedspace.ops.qa import Answer
from embedspace.store import Space

_QA = [
    click.option(
        "-k", "k", default=3, show_default=True, type=click.IntRange(min=1), help="Answers to show."
    ),
    click.option(
        "--threshold",
        default=0.5,
        show_default=True,
        type=click.FloatRange(-1, 1),
        help="Lowest confidence of a good answer.",
    ),
    click.option(
        "--answer-field",
        default="answer",
        show_default=True,
        help="Metadata field holding the answer.",
    ),
]


def _qa(function: Any) -> Any:
    for option in reversed(_QA):
        function = option(function)
    return function


def _say(answers: list[Answer], *, as_json: bool, threshold: float) -> None:
    """The best answer with its matched question, then the other k - 1 candidates."""
    from dataclasses import asdict

    if as_json:
        emit_json(asdict(a) for a in answers)
        return
    best = answers[0] if answers else None
    if best is None or not best.confident:
        near = (
            f" (closest: {best.score:.2f} '{shorten(best.matched_question, 60)}')" if best else ""
        )
        click.echo(f"No good answer{near}; confidence is below {threshold}.")
        return
    click.echo(f"{best.answer}\n  ({best.score:.2f}: '{shorten(best.matched_question, 70)}')")
    if len(answers) > 1:
        click.echo("Other answers:")
    for other in answers[1:]:
        low = "" if other.confident else ", below the threshold"
        click.echo(
            f"  {other.score:.2f}{low}: '{shorten(other.matched_question, 50)}' → "
            f"{shorten(str(other.answer), 80)}"
        )


@click.command("ask")
@click.argument("space")
@click.argument("question")
@_qa
@json_option(
    "One JSON object per answer: question, answer, matched_question, id, score, confident."
)
def ask_command(
    space: str, question: str, k: int, threshold: float, answer_field: str, as_json: bool
) -> None:
    """Answer QUESTION from a FAQ space (questions indexed as text, answers as metadata).

    \b
    Example:
      embedspace index faq faq.csv --text-field question     # 'answer' column kept
      embedspace ask faq "how do I reset my password?"
    """
    from embedspace.ops.qa import ask

    with Space.open(space) as opened:
        answers = ask(opened, question, k=k, threshold=threshold, answer_field=answer_field)
    _say(answers, as_json=as_json, threshold=threshold)


@click.command("chat")
@click.argument("space")
@_qa
def chat_command(space: str, k: int, threshold: float, answer_field: str) -> None:
    """Ask SPACE one question after another (an empty line, 'quit' or Ctrl-D ends).

    \b
    Examples:
      embedspace chat faq
      embedspace chat faq --threshold 0.6
    """
    from embedspace.ops.qa import ask

    with Space.open(space) as opened:
        click.echo(
            f"Ask '{opened.name}' anything ({len(opened)} known questions). "
            "Empty line or 'quit' ends."
        )
        while True:
            try:
                question = input("> ").strip()
            except EOFError:
                break
            if not question or question.lower() in ("quit", "exit"):
                break
            _say(
                ask(opened, question, k=k, threshold=threshold, answer_field=answer_field),
                as_json=False,
                threshold=threshold,
            )


COMMANDS = [ask_command, chat_command]
