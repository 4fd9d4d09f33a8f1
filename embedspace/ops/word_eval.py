"""Built-in evaluation of word vectors: analogy accuracy (Mikolov's questions-words.txt)
and Spearman correlation with human similarity judgements (WordSim353, SimLex-999).

The test sets are the copies in gensim's test data (``words`` extra); any file in the same
formats can be given instead. Conventions follow word2vec's ``compute-accuracy`` and gensim:
case-insensitive, answers searched among the 30,000 most frequent words (3CosAdd, the three
question words excluded), questions with an unknown word skipped and counted as such.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedspace.encoders.word_vectors import WordVectors
from embedspace.errors import InvalidInput, MissingExtra
from embedspace.progress import ProgressCallback, report

SEMANTIC_SECTIONS = 5  # questions-words.txt: the first 5 sections are semantic, the rest syntactic


@dataclass(frozen=True, slots=True)
class SectionScore:
    """Accuracy of one analogy section."""

    section: str
    correct: int
    total: int
    skipped: int

    @property
    def accuracy(self) -> float:
        """Correct answers over answered questions (0 when none was answerable)."""
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class Correlation:
    """Spearman correlation of model similarities with human ratings, over the pairs whose
    words the model knows."""

    name: str
    spearman: float
    pairs: int
    skipped: int


def test_data(name: str) -> Path:
    """A file from gensim's test data: questions-words.txt, wordsim353.tsv, simlex999.txt."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or spec.origin is None:
        raise MissingExtra("The word-vector test sets", "words", "gensim")
    return Path(spec.origin).parent / "test" / "test_data" / name


def analogy_accuracy(
    model: WordVectors, questions: Path | None = None, *, restrict: int = 30_000
) -> list[SectionScore]:
    """Per-section accuracy on analogy questions ``a b c d`` (is ``d`` the best answer
    to ``b - a + c``?). A final section ``total`` sums them all."""
    path = questions or test_data("questions-words.txt")
    sections = _read_questions(path)
    unit = model.unit_vectors()
    limit = min(restrict, len(unit))
    candidates = np.asarray(unit[:limit])
    scores: list[SectionScore] = []
    for section, rows in sections:
        known = [r for r in rows if all(_rank(model, w, limit) is not None for w in r)]
        correct = 0
        for start in range(0, len(known), 512):
            chunk = np.array(
                [[_rank(model, w, limit) for w in row] for row in known[start : start + 512]]
            )
            if not len(chunk):
                continue
            target = candidates[chunk[:, 1]] - candidates[chunk[:, 0]] + candidates[chunk[:, 2]]
            similarity = target @ candidates.T
            rows_index = np.arange(len(chunk))[:, None]
            similarity[rows_index, chunk[:, :3]] = -np.inf
            correct += int(np.sum(np.argmax(similarity, axis=1) == chunk[:, 3]))
        scores.append(SectionScore(section, correct, len(known), len(rows) - len(known)))
    semantic, syntactic, everything = (
        scores[:SEMANTIC_SECTIONS],
        scores[SEMANTIC_SECTIONS:],
        [*scores],
    )
    for label, group in (("semantic", semantic), ("syntactic", syntactic), ("total", everything)):
        scores.append(
            SectionScore(
                label,
                sum(s.correct for s in group),
                sum(s.total for s in group),
                sum(s.skipped for s in group),
            )
        )
    return scores


def _rank(model: WordVectors, word: str, limit: int) -> int | None:
    rank = model.rank(word)
    if rank is None:
        rank = model.rank(word.lower())
    return rank if rank is not None and rank < limit else None


def _read_questions(path: Path) -> list[tuple[str, list[list[str]]]]:
    if not path.is_file():
        raise InvalidInput(f"No analogy file at {path}.")
    sections: list[tuple[str, list[list[str]]]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(":"):
            sections.append((line[1:].strip(), []))
        elif line.strip():
            words = line.split()
            if len(words) != 4 or not sections:
                raise InvalidInput(f"{path}, line {number}: expected ': section' or 4 words.")
            sections[-1][1].append(words)
    if not sections:
        raise InvalidInput(f"{path} holds no analogy sections.")
    return sections


def similarity_correlation(model: WordVectors, pairs: Path, name: str | None = None) -> Correlation:
    """Spearman correlation between the model's cosine and the human score of each pair
    (tab-separated ``word1 word2 score`` lines; ``#`` starts a comment)."""
    from scipy.stats import spearmanr

    if not pairs.is_file():
        raise InvalidInput(f"No word-pair file at {pairs}.")
    ours: list[float] = []
    humans: list[float] = []
    skipped = 0
    for number, line in enumerate(pairs.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        try:
            first, second, score = parts[0], parts[1], float(parts[2])
        except (IndexError, ValueError):
            raise InvalidInput(f"{pairs}, line {number}: expected 'word1 word2 score'.") from None
        if first not in model or second not in model:
            skipped += 1
            continue
        ours.append(model.similarity(first, second))
        humans.append(score)
    if len(ours) < 3:
        raise InvalidInput(f"{pairs}: the model knows fewer than 3 of its word pairs.")
    rho = float(spearmanr(ours, humans).statistic)
    return Correlation(name or pairs.stem, rho, len(ours), skipped)


def standard_evaluation(model: WordVectors) -> tuple[list[SectionScore], list[Correlation]]:
    """Analogies plus WordSim353 and SimLex-999, from gensim's test data."""
    correlations = [
        similarity_correlation(model, test_data("wordsim353.tsv"), "WordSim353"),
        similarity_correlation(model, test_data("simlex999.txt"), "SimLex-999"),
    ]
    return analogy_accuracy(model), correlations


@dataclass(frozen=True, slots=True)
class WordEvaluation:
    """Analogy accuracy per section and the correlations with human judgements of the
    word vectors ``model``, answers searched among its ``restrict`` most frequent words."""

    model: str
    restrict: int
    sections: list[SectionScore]
    correlations: list[Correlation]


def evaluate(
    model: str,
    questions: Path | None = None,
    *,
    restrict: int = 30_000,
    on_progress: ProgressCallback | None = None,
) -> WordEvaluation:
    """Evaluate the word vectors called ``model``: analogies (``questions``, default
    questions-words.txt) plus WordSim353 and SimLex-999."""
    from embedspace.ops.words import load_words

    words = load_words(model)
    report(on_progress, f"Evaluating {words.name}", 0, None)
    sections = analogy_accuracy(words, questions, restrict=restrict)
    correlations = [
        similarity_correlation(words, test_data("wordsim353.tsv"), "WordSim353"),
        similarity_correlation(words, test_data("simlex999.txt"), "SimLex-999"),
    ]
    return WordEvaluation(words.name, restrict, sections, correlations)
