"""Typo correction: a noisy-channel speller over a vocabulary with frequencies.

For each word, candidates are the known words within ``max_edits`` edits (optimal string
alignment distance: insertions, deletions, substitutions and adjacent transpositions, from
rapidfuzz), and the word itself. Each candidate is scored, in log space, as

    log P(candidate)                      frequency prior (Zipf: from the rank, or counts)
  - edit_cost * edits                     the channel: every edit costs the same
  + ngram_weight * n-gram similarity      shared character trigrams (typos keep most)
  + context_weight * context similarity   cosine to the neighbouring words' vectors

and the best wins; scores are turned into probabilities over the candidates. Known words
stay unless a far more frequent word is one edit away (the prior outweighs the edit cost),
which is how "teh" (rank 19,881 in GloVe) becomes "the". The weights (edit cost 5, n-gram
weight 4) were chosen on half of the
codespell pairs and measured on the other half (bench/RESULTS.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedspace.encoders.word_vectors import WordVectors
from embedspace.errors import InvalidInput, MissingExtra

_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A possible correction with its probability among the candidates and edit count."""

    word: str
    probability: float
    edits: int


@dataclass(frozen=True, slots=True)
class WordFix:
    """One word of the input: where it is, what it was, what it became and why."""

    start: int
    original: str
    corrected: str
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the word was corrected."""
        return self.corrected.lower() != self.original.lower()


@dataclass(frozen=True, slots=True)
class FixResult:
    """The corrected text and every word's decision."""

    text: str
    words: list[WordFix]


def _trigrams(word: str) -> set[str]:
    padded = f"<{word}>"
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def ngram_similarity(first: str, second: str) -> float:
    """Jaccard similarity of the padded character trigrams of two words."""
    a, b = _trigrams(first), _trigrams(second)
    return len(a & b) / len(a | b) if a or b else 1.0


class Speller:
    """Corrects words against a vocabulary (most frequent first, or with counts)."""

    def __init__(
        self,
        vocabulary: Sequence[str],
        counts: Sequence[int] | None = None,
        *,
        vectors: WordVectors | None = None,
        max_edits: int = 2,
        edit_cost: float = 5.0,
        ngram_weight: float = 4.0,
        context_weight: float = 3.0,
        min_length: int = 2,
    ) -> None:
        words = [w.lower() for w in vocabulary]
        if not words:
            raise InvalidInput("The vocabulary is empty; give words, most frequent first.")
        if counts is not None and len(counts) != len(words):
            raise InvalidInput(f"{len(words)} words but {len(counts)} counts.")
        self.words = words
        self.rank: dict[str, int] = {}
        for position, word in enumerate(words):
            self.rank.setdefault(word, position)
        if counts is None:  # Zipf's law: frequency ~ 1 / rank
            self.log_prior = -np.log(np.arange(1, len(words) + 1, dtype=np.float64))
        else:
            total = float(sum(counts))
            self.log_prior = np.log(np.maximum(np.asarray(counts, dtype=np.float64), 0.5) / total)
        self.vectors = vectors
        self.max_edits, self.edit_cost = max_edits, edit_cost
        self.ngram_weight, self.context_weight = ngram_weight, context_weight
        self.min_length = min_length

    @classmethod
    def from_word_vectors(
        cls, vectors: WordVectors, limit: int = 100_000, **options: float
    ) -> Speller:
        """A speller over the ``limit`` most frequent words of a word-vector model, which
        also supplies context."""
        words = [w for w in vectors.words[:limit]]
        return cls(words, vectors=vectors, **options)  # type: ignore[arg-type]

    def pool(self, word: str) -> dict[str, int]:
        """Known words within ``max_edits`` edits of ``word`` (and the word itself when
        known), with their edit counts."""
        try:
            from rapidfuzz import process
            from rapidfuzz.distance import OSA
        except ImportError:
            raise MissingExtra("Typo correction", "words", "rapidfuzz") from None
        lower = word.lower()
        found = process.extract(
            lower, self.words, scorer=OSA.distance, score_cutoff=self.max_edits, limit=200
        )
        pool: dict[str, int] = {}
        for match, edits, _ in found:
            pool.setdefault(match, int(edits))
        if lower in self.rank:
            pool[lower] = 0
        return pool

    def candidates(
        self,
        word: str,
        context: Sequence[str] = (),
        limit: int = 5,
        pool: dict[str, int] | None = None,
    ) -> list[Candidate]:
        """The best corrections of ``word`` (itself included when known), most likely first."""
        lower = word.lower()
        pool = self.pool(word) if pool is None else pool
        if not pool:
            return []
        names = list(pool)
        scores = np.array([self._score(lower, c, pool[c]) for c in names])
        if self.vectors is not None and context and self.context_weight:
            scores += self.context_weight * self._context(names, context)
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        order = np.argsort(-probabilities, kind="stable")[:limit]
        return [
            Candidate(names[i], round(float(probabilities[i]), 6), pool[names[i]]) for i in order
        ]

    def _score(self, word: str, candidate: str, edits: int) -> float:
        prior = float(self.log_prior[self.rank[candidate]])
        return (
            prior - self.edit_cost * edits + self.ngram_weight * ngram_similarity(word, candidate)
        )

    def _context(self, names: list[str], context: Sequence[str]) -> np.ndarray:
        assert self.vectors is not None
        known = [w for w in context if w in self.vectors]
        if not known:
            return np.zeros(len(names))
        unit = self.vectors.unit_vectors()
        centre = np.mean([unit[self.vectors.index_of(w)] for w in known], axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        out = np.zeros(len(names))
        for position, name in enumerate(names):
            if name in self.vectors:
                out[position] = float(unit[self.vectors.index_of(name)] @ centre)
        return out

    def correct_word(self, word: str, context: Sequence[str] = ()) -> str:
        """The best correction of one word, in the word's own case style."""
        if len(word) < self.min_length or not word.isalpha():
            return word
        best = self.candidates(word, context, limit=1)
        return _same_case(word, best[0].word) if best else word

    def fix(self, text: str, *, window: int = 3, limit: int = 5) -> FixResult:
        """Correct every word of ``text``; punctuation and spacing are kept as they are.
        Context is the (already corrected) words up to ``window`` either side."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("Give some text to correct.")
        spans = [(m.start(), m.group()) for m in _WORD.finditer(text)]
        corrected = [w.lower() for _, w in spans]
        fixes: list[WordFix] = []
        for position, (start, word) in enumerate(spans):
            context = (
                corrected[max(0, position - window) : position]
                + corrected[position + 1 : position + 1 + window]
            )
            if len(word) < self.min_length:
                fixes.append(WordFix(start, word, word, []))
                continue
            options = self.candidates(word, context, limit)
            best = _same_case(word, options[0].word) if options else word
            corrected[position] = best.lower()
            fixes.append(WordFix(start, word, best, options))
        pieces, cursor = [], 0
        for fix in fixes:
            pieces.append(text[cursor : fix.start])
            pieces.append(fix.corrected)
            cursor = fix.start + len(fix.original)
        pieces.append(text[cursor:])
        return FixResult("".join(pieces), fixes)


def _same_case(original: str, word: str) -> str:
    if original.isupper() and len(original) > 1:
        return word.upper()
    if original[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def fix_text(
    text: str,
    *,
    model: str = "glove-50",
    vocabulary: Path | None = None,
    limit: int = 100_000,
    max_edits: int = 2,
) -> FixResult:
    """Correct the typos in ``text`` with the vocabulary of the word vectors ``model``
    (its ``limit`` most frequent words, with their vectors as context), or with the word
    list in the file ``vocabulary`` instead (``embedspace.io.vocabulary``)."""
    if vocabulary is not None:
        from embedspace.io.vocabulary import read_vocabulary

        words, counts = read_vocabulary(vocabulary)
        speller = Speller(words, counts, max_edits=max_edits)
    else:
        from embedspace.ops.words import load_words

        speller = Speller.from_word_vectors(load_words(model), limit=limit, max_edits=max_edits)
    return speller.fix(text)
