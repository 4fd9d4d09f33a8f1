"""``embedspace words``: neighbours, analogies, similarity, evaluation and pictures of
word vectors (GloVe 6B 50d by default, or any word-vector file or trained folder)."""

from __future__ import annotations

from pathlib import Path

import click

from embedspace.cli.options import json_option, k_option, word_model_option
from embedspace.cli.output import emit_json, print_table
from embedspace.cli.progress import Stages
from embedspace.encoders.word_vectors import Neighbour
from embedspace.ops.word_eval import WordEvaluation, evaluate
from embedspace.ops.words import load_words

_MODEL = word_model_option
_K = k_option("How many words.")
_JSON = json_option("One JSON object per line.")


def _show(found: list[Neighbour], *, as_json: bool, title: str) -> None:
    if as_json:
        emit_json({"word": n.word, "score": n.score} for n in found)
    else:
        print_table(
            title, ["rank", "word", "score"], [(i, n.word, n.score) for i, n in enumerate(found, 1)]
        )


@click.group("words")
def words_group() -> None:
    """Word vectors: similar words, analogies, evaluation, pictures.

    \b
    Examples:
      embedspace words neighbors frog -k 5
      embedspace words analogy man woman king          # queen
      embedspace words similarity cat dog
      embedspace words evaluate
      embedspace words plot king queen prince man woman boy girl -o words.html --dims 3
    """


@words_group.command("neighbors")
@click.argument("word")
@_K
@_MODEL
@_JSON
def neighbors_command(word: str, k: int, model: str, as_json: bool) -> None:
    """The K words closest to WORD (cosine similarity).

    \b
    Examples:
      embedspace words neighbors frog -k 5
      embedspace words neighbors frog --model ./vectors.txt --json
    """
    _show(load_words(model).neighbors(word, k), as_json=as_json, title=f"like {word!r}")


@words_group.command("analogy")
@click.argument("a")
@click.argument("b")
@click.argument("c")
@_K
@_MODEL
@_JSON
def analogy_command(a: str, b: str, c: str, k: int, model: str, as_json: bool) -> None:
    """A is to B as C is to ...? (the words closest to B - A + C).

    \b
    Example:
      embedspace words analogy man woman king       # queen
      embedspace words analogy paris france tokyo   # japan
    """
    found = load_words(model).analogy(a, b, c, k)
    _show(found, as_json=as_json, title=f"{a} : {b} :: {c} : ?")


@words_group.command("similarity")
@click.argument("first")
@click.argument("second")
@_MODEL
@json_option("Print one JSON object.")
def similarity_command(first: str, second: str, model: str, as_json: bool) -> None:
    """Cosine similarity of two words (1 = same direction).

    \b
    Examples:
      embedspace words similarity cat dog
      embedspace words similarity cat dog --model ./vectors.bin
    """
    score = round(load_words(model).similarity(first, second), 6)
    if as_json:
        emit_json([{"first": first, "second": second, "score": score}])
    else:
        click.echo(f"{score:.4f}")


@words_group.command("evaluate")
@_MODEL
@click.option(
    "--questions",
    type=click.Path(dir_okay=False),
    help="Analogy file (default: questions-words.txt).",
)
@click.option(
    "--restrict",
    default=30_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Answers are searched among this many most frequent words.",
)
@json_option("One JSON object per section and per test set.")
def evaluate_command(model: str, questions: str | None, restrict: int, as_json: bool) -> None:
    """Analogy accuracy (per section, semantic, syntactic, total) and Spearman correlation
    with human judgements on WordSim353 and SimLex-999.

    \b
    Examples:
      embedspace words evaluate
      embedspace words evaluate --model ./vectors.bin --restrict 100000 --json
    """
    with Stages() as progress:
        found = evaluate(
            model, Path(questions) if questions else None, restrict=restrict, on_progress=progress
        )
    _print_evaluation(found, as_json=as_json)


def _print_evaluation(found: WordEvaluation, *, as_json: bool) -> None:
    sections, correlations = found.sections, found.correlations
    if as_json:
        emit_json(
            {
                "section": s.section,
                "accuracy": round(s.accuracy, 6),
                "correct": s.correct,
                "answered": s.total,
                "skipped": s.skipped,
            }
            for s in sections
        )
        emit_json(
            {
                "test": c.name,
                "spearman": round(c.spearman, 6),
                "pairs": c.pairs,
                "skipped": c.skipped,
            }
            for c in correlations
        )
        return
    print_table(
        f"Analogies ({found.model}, answers among the {found.restrict:,} most frequent words)",
        ["section", "accuracy", "correct", "answered", "skipped"],
        [(s.section, s.accuracy, s.correct, s.total, s.skipped) for s in sections],
    )
    print_table(
        "Word similarity (Spearman)",
        ["test", "spearman", "pairs", "skipped"],
        [(c.name, c.spearman, c.pairs, c.skipped) for c in correlations],
    )


@words_group.command("plot")
@click.argument("words", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Picture file: .html (interactive) or .png, in an existing folder.",
)
@click.option("--dims", type=click.IntRange(2, 3), default=3, show_default=True, help="2D or 3D.")
@_MODEL
def plot_command(words: tuple[str, ...], output: str, dims: int, model: str) -> None:
    """Draw WORDS as labelled points, projected to 2D or 3D with PCA.

    \b
    Example:
      embedspace words plot king queen prince princess man woman boy girl -o royals.html
    """
    from embedspace.render import draw_words

    with Stages() as progress:
        picture = draw_words(words, Path(output), model=model, dims=dims, on_progress=progress)
    click.echo(f"Wrote {picture.path} ({picture.title}).")


COMMANDS = [words_group]
