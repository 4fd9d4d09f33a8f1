"""``embedspace words``: neighbours, analogies, similarity, evaluation and pictures of
word vectors (GloVe 6B 50d by default, or any word-vector file or trained folder)."""

from __future__ import annotations

from pathlib import Path

import click

from embedspace.cli.output import emit_json, print_table
from embedspace.cli.progress import Progress
from embedspace.encoders import get as get_encoder
from embedspace.encoders.word_vectors import Neighbour, WordVectors
from embedspace.errors import InvalidInput

_MODEL = click.option(
    "--model",
    default="glove-50",
    show_default=True,
    metavar="NAME|PATH",
    help="Word vectors: glove-50, a .bin/.vec/.txt file, or a 'train word2vec' folder.",
)
_K = click.option(
    "-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="How many words."
)
_JSON = click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")


def load_words(model: str) -> WordVectors:
    """The word vectors called ``model``; a clear error for any other kind of encoder."""
    encoder = get_encoder(model)
    if not isinstance(encoder, WordVectors):
        raise InvalidInput(
            f"'{model}' is not a word-vector model. Use glove-50, a word2vec/GloVe/fastText "
            "file, or a folder made by 'embedspace train word2vec'."
        )
    return encoder


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
    """The K words closest to WORD (cosine similarity)."""
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def similarity_command(first: str, second: str, model: str, as_json: bool) -> None:
    """Cosine similarity of two words (1 = same direction)."""
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
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per section and per test set."
)
def evaluate_command(model: str, questions: str | None, restrict: int, as_json: bool) -> None:
    """Analogy accuracy (per section, semantic, syntactic, total) and Spearman correlation
    with human judgements on WordSim353 and SimLex-999."""
    from embedspace.ops.word_eval import analogy_accuracy, similarity_correlation, test_data

    words = load_words(model)
    with Progress(f"Evaluating {words.name}"):
        sections = analogy_accuracy(
            words, Path(questions) if questions else None, restrict=restrict
        )
        correlations = [
            similarity_correlation(words, test_data("wordsim353.tsv"), "WordSim353"),
            similarity_correlation(words, test_data("simlex999.txt"), "SimLex-999"),
        ]
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
        f"Analogies ({words.name}, answers among the {restrict:,} most frequent words)",
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
    from embedspace.cli.plotting import check_output, scatter
    from embedspace.ops.projection import pca

    target = Path(output)
    check_output(target)
    vectors = load_words(model)
    unique = list(dict.fromkeys(words))
    if len(unique) < 2:
        raise InvalidInput("Give at least two different words to draw.")
    with Progress(f"Loading {model}"):
        rows = [vectors.index_of(w) for w in unique]
    coordinates, explained = pca(vectors.vectors[rows], dims)
    title = f"{len(unique)} words, PCA {dims}D ({explained.sum():.0%} of the variance)"
    scatter(coordinates, unique, target, title=title)
    click.echo(f"Wrote {target} ({title}).")


COMMANDS = [words_group]
