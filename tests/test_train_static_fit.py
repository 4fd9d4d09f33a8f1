"""Static encoders fitted to the user's texts: the fit learns where the teacher puts a text,
the folder loads as an encoder by path, bad input is refused clearly."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import needs_minilm

import embedspace as es
from embedspace.cli import main as cli
from embedspace.encoders import get, static
from embedspace.encoders.minilm import plain_tokenizer
from embedspace.encoders.static_folder import CONFIG_FILE, TABLE_FILE, StaticFolder
from embedspace.errors import InvalidInput, ModelNotAvailable
from embedspace.train import static_fit
from embedspace.train.static_fit import fit_static_encoder


class _PlantedTeacher:
    """A teacher whose text vectors are a known linear function of the mean of the texts'
    weighted token vectors: exactly what the map can learn."""

    name = "planted"
    dim = 384
    max_tokens = 256

    def __init__(self) -> None:
        self.tokenizer = plain_tokenizer()
        size = self.tokenizer.get_vocab_size()
        rng = np.random.default_rng(3)
        self.vectors = rng.normal(size=(size, self.dim)).astype(np.float32)
        self.turn = rng.normal(size=(self.dim, self.dim)).astype(np.float32)
        self._weighted = static.weighted_tokens(self.vectors)
        self.encoded = 0

    def runtime_recipe(self) -> str:
        return "planted-1"

    def embed_token_ids(self, rows: np.ndarray) -> np.ndarray:
        return self.vectors[rows[:, 1]]

    def encode(self, texts: Sequence[str], on_progress: Any = None) -> np.ndarray:
        self.encoded += len(texts)
        ids = [e.ids for e in plain_tokenizer().encode_batch(list(texts))]
        pooled = static.mean_rows(self._weighted, ids) @ self.turn
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def _texts(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct texts of 4-12 whole-word vocabulary tokens."""
    vocabulary = sorted(  # get_vocab's order differs from call to call
        w for w, i in plain_tokenizer().get_vocab().items() if w.isalpha() and 2000 < i < 8000
    )
    rng = np.random.default_rng(seed)
    return [
        " ".join(rng.choice(vocabulary, size=int(rng.integers(4, 13)))) + f" {n}"
        for n in range(count)
    ]


@pytest.fixture(scope="module")
def teacher() -> _PlantedTeacher:
    return _PlantedTeacher()


def test_the_fit_learns_the_teachers_space_and_loads_by_path(
    teacher: _PlantedTeacher, tmp_path: Path
) -> None:
    texts = _texts(1500)
    report = fit_static_encoder([*texts, texts[0], "  "], tmp_path / "fitted", teacher=teacher)
    assert (report.given, report.texts, report.held_out) == (1500, 1350, 150)
    assert report.dims == static.DIMS
    assert teacher.encoded == 1500  # the fitting texts, then the held-out ones; once each
    # the planted teacher is linear in the token means, so the fit finds its neighbours;
    # the shipped map (learned for MiniLM, for this teacher a random turn) finds fewer
    assert report.agreement is not None and report.shipped_agreement is not None
    assert report.agreement > 0.8 and report.agreement > report.shipped_agreement + 0.3
    config = json.loads((tmp_path / "fitted" / CONFIG_FILE).read_text())
    assert config["teacher"] == "planted" and config["agreement"] == report.agreement
    assert np.load(tmp_path / "fitted" / TABLE_FILE).dtype == np.float16

    encoder = get(str(tmp_path / "fitted"))
    assert isinstance(encoder, StaticFolder) and encoder.dim == static.DIMS
    fresh = _texts(40, seed=9)
    vectors = encoder.encode(fresh)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    truth = teacher.encode(fresh)
    # same geometry as the teacher's, up to the directions the 256 dims drop
    assert np.corrcoef((vectors @ vectors.T).ravel(), (truth @ truth.T).ravel())[0, 1] > 0.95
    assert encoder.runtime_recipe() == f"model {config['training_id'][:12]}"


def test_fitting_again_at_the_same_path_makes_a_new_model(
    teacher: _PlantedTeacher, tmp_path: Path
) -> None:
    texts = _texts(600)
    first = fit_static_encoder(texts, tmp_path / "m", teacher=teacher)
    assert first.held_out == 0 and first.agreement is None  # too few texts to hold out
    tag = get(str(tmp_path / "m")).runtime_recipe()
    fit_static_encoder(texts, tmp_path / "m", teacher=teacher, dims=64)
    again = get(str(tmp_path / "m"))
    assert again.dim == 64 and again.runtime_recipe() != tag
    assert again.encode(["one more text"]).shape == (1, 64)


def test_a_space_of_the_folder_refuses_queries_once_it_is_fitted_again(
    teacher: _PlantedTeacher, tmp_path: Path
) -> None:
    texts = _texts(600)
    fit_static_encoder(texts, tmp_path / "m", teacher=teacher)
    with es.Space.create(tmp_path / "space", encoder=str(tmp_path / "m")) as space:
        space.add(texts[:20])
        assert space.search(texts[3], k=1)[0].content == texts[3]
    fit_static_encoder(texts, tmp_path / "m", teacher=teacher)  # the same fit again makes
    with es.Space.open(tmp_path / "space") as space:  # the same table: the space still works
        assert space.search(texts[3], k=1)[0].content == texts[3]
    fit_static_encoder(_texts(600, seed=5), tmp_path / "m", teacher=teacher)  # another fit
    with (
        es.Space.open(tmp_path / "space") as space,
        pytest.raises(es.EncoderMismatch, match="cannot be compared"),
    ):
        space.search(texts[3])


def test_indexing_unchanged_files_after_another_fit_says_the_space_is_the_old_tables(
    teacher: _PlantedTeacher, tmp_path: Path
) -> None:
    from embedspace.ops.ingest import ingest

    texts = _texts(600)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"id": f"t{i}", "text": t}) + "\n" for i, t in enumerate(texts[:20]))
    )
    fit_static_encoder(texts, tmp_path / "m", teacher=teacher)
    model = str(tmp_path / "m")
    assert ingest(tmp_path / "space", [corpus], encoder=model).added == 20
    fit_static_encoder(_texts(600, seed=5), tmp_path / "m", teacher=teacher)  # another fit
    # nothing would be embedded (every item is unchanged), yet the space cannot be used
    # with the folder now: the index says so rather than reporting 20 unchanged items
    with pytest.raises(es.EncoderMismatch, match="cannot be compared"):
        ingest(tmp_path / "space", [corpus], encoder=model)


def test_the_fit_reads_what_the_teacher_reads_and_samples_many_texts(
    teacher: _PlantedTeacher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A teacher that reads 8 tokens of each text is fitted on the means of those 8 (texts
    here run to 14 tokens); more than MAX_TEXTS texts are sampled, the held-out ones apart."""
    short = _PlantedTeacher()
    short.max_tokens = 10  # [CLS] + 8 tokens + [SEP]
    original = short.encode

    def first_eight(texts: Sequence[str], on_progress: Any = None) -> np.ndarray:
        cut = [" ".join(plain_tokenizer().encode(t).tokens[:8]).replace(" ##", "") for t in texts]
        return original(cut)

    short.encode = first_eight  # type: ignore[method-assign]
    monkeypatch.setattr(static_fit, "MAX_TEXTS", 1200)
    report = fit_static_encoder(_texts(1500), tmp_path / "m", teacher=short)
    assert (report.given, report.texts, report.held_out) == (1500, 1200, 150)
    assert report.agreement is not None and report.agreement > 0.8


def test_bad_input_is_refused_with_what_to_do(teacher: _PlantedTeacher, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="at least 500 distinct texts"):
        fit_static_encoder(_texts(200) * 5, tmp_path / "few", teacher=teacher)
    with pytest.raises(InvalidInput, match="dims must be between 8 and 384"):
        fit_static_encoder(_texts(600), tmp_path / "wide", teacher=teacher, dims=512)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInput, match="choose a new output folder"):
        fit_static_encoder(_texts(600), other, teacher=teacher)
    assert not (tmp_path / "few").exists() and not (tmp_path / "wide").exists()


def test_a_damaged_folder_says_to_fit_again(teacher: _PlantedTeacher, tmp_path: Path) -> None:
    fit_static_encoder(_texts(600), tmp_path / "m", teacher=teacher, dims=32)
    (tmp_path / "m" / TABLE_FILE).write_bytes(b"garbage")
    with pytest.raises(ModelNotAvailable, match="fit the static encoder again"):
        get(str(tmp_path / "m")).encode(["text"])
    (tmp_path / "m" / TABLE_FILE).unlink()
    error = get(str(tmp_path / "m")).availability_error()
    assert isinstance(error, ModelNotAvailable) and "train static-encoder" in str(error)


@needs_minilm
def test_train_static_encoder_from_the_command_line(tmp_path: Path) -> None:
    """The real teacher (minilm-l6) on 1,000 texts, through the CLI, then used to index."""
    source = tmp_path / "texts.csv"
    source.write_text("id,body\n" + "".join(f"t{n},{t}\n" for n, t in enumerate(_texts(1000))))
    runner = CliRunner()
    made = runner.invoke(
        cli,
        ["train", "static-encoder", str(source), "--text-field", "body", "-o", str(tmp_path / "s")],
    )
    assert made.exit_code == 0, made.output
    assert "held-out texts it finds" in made.output and f"--encoder {tmp_path / 's'}" in made.output
    as_json = runner.invoke(
        cli,
        ["train", "static-encoder", str(source), "--text-field", "body", "--dims", "64", "--json"]
        + ["-o", str(tmp_path / "s")],
    )
    assert as_json.exit_code == 0, as_json.output
    row = json.loads(as_json.output.strip().splitlines()[-1])
    assert row["dims"] == 64 and row["texts"] == 900 and 0 < row["agreement"] <= 1
    space = tmp_path / "space"
    indexed = runner.invoke(
        cli,
        [
            "index",
            str(space),
            str(source),
            "--text-field",
            "body",
            "--encoder",
            str(tmp_path / "s"),
        ],
    )
    assert indexed.exit_code == 0, indexed.output
    found = runner.invoke(cli, ["search", str(space), _texts(1000)[7], "-k", "1", "--json"])
    assert found.exit_code == 0 and json.loads(found.output.splitlines()[0])["id"] == "t7"
    short = tmp_path / "short.txt"
    short.write_text("one text\nanother text\n")
    few = runner.invoke(cli, ["train", "static-encoder", str(short), "-o", str(tmp_path / "x")])
    assert few.exit_code != 0 and "at least 500 distinct texts to fit (got 2)" in few.output
    assert not (tmp_path / "x").exists()
