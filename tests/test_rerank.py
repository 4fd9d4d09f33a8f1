"""Reranking with a cross-encoder: a tiny randomly initialised BERT built here (no
cross-encoder weights ship offline), run by transformers and as its ONNX export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import embedspace as es
from embedspace.cli import main
from embedspace.encoders.cross_encoder import CrossEncoder
from embedspace.errors import InvalidInput
from embedspace.ops.rerank import search

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

NAMES = ("input_ids", "attention_mask", "token_type_ids")
WORDS = ["the", "a", "cat", "dog", "sat", "mat", "boots", "leather", "oil"]
WORDS += ["rockets", "moon", "stocks", "fell"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a transformers cross-encoder folder, its ONNX export folder)."""
    folder = tmp_path_factory.mktemp("tiny-cross")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab))
    tokenizer = transformers.BertTokenizerFast(str(folder / "vocab.txt"))
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=1,
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    exported = tmp_path_factory.mktemp("tiny-cross-onnx")
    shutil.copy(folder / "tokenizer.json", exported / "tokenizer.json")
    sample = tokenizer(["the cat"], ["a dog sat"], return_tensors="pt")
    torch.onnx.export(
        model,
        (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
        str(exported / "model.onnx"),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits"],
        dynamic_axes={
            n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "token_type_ids")
        },
        dynamo=False,
    )
    return folder, exported


def test_both_backends_score_alike(tiny: tuple[Path, Path]) -> None:
    folder, exported = tiny
    texts = ["the cat sat", "leather boots oil", "rockets moon", "stocks fell"] * 10
    by_torch = CrossEncoder(folder).score("cat", texts)
    by_onnx = CrossEncoder(exported).score("cat", texts)
    assert by_torch.shape == (40,)
    np.testing.assert_allclose(by_torch, by_onnx, atol=1e-4)
    assert np.ptp(by_torch) > 0  # the random model does tell texts apart


def test_search_reranks_the_first_results_by_the_cross_encoder(
    tiny: tuple[Path, Path],
) -> None:
    folder, exported = tiny
    texts = ["the cat sat", "leather boots oil", "rockets moon", "stocks fell", "a dog sat"]
    with es.Space.create("docs", encoder="fake") as space:
        space.add(texts, ids=[f"t{i}" for i in range(5)])
        first = space.search("the cat", k=5)
        reranked = search(space, "the cat", 3, rerank_with=exported, top=5)
    scores = dict(zip(texts, CrossEncoder(exported).score("the cat", texts), strict=True))
    expected = sorted(first, key=lambda m: -scores[m.content])[:3]
    assert [m.id for m in reranked] == [m.id for m in expected]
    assert [m.score for m in reranked] == pytest.approx([scores[m.content] for m in expected])
    result = CliRunner().invoke(
        main, ["search", "docs", "the cat", "-k", "3", "--rerank", str(folder), "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [m.id for m in expected]


def test_bad_rerank_input(tmp_path: Path, tiny: tuple[Path, Path]) -> None:
    with es.Space.create("docs", encoder="fake") as space:
        space.add(["a cat"], ids=["c"])
        with pytest.raises(InvalidInput, match="No cross-encoder folder"):
            search(space, "cat", 1, rerank_with=tmp_path / "missing")
        with pytest.raises(InvalidInput, match="not a cross-encoder folder"):
            search(space, "cat", 1, rerank_with=tmp_path)
        with pytest.raises(InvalidInput, match="at least k"):
            search(space, "cat", 10, rerank_with=tiny[0], top=5)
    result = CliRunner().invoke(main, ["search", "docs", "--image", "x.png", "--rerank", "m"])
    assert result.exit_code == 1 and "cannot use --image" in result.output
