"""minilm-static: the token table distilled from MiniLM, and texts as means of it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import needs_minilm

from embedspace.encoders import get, static


class _Vocabulary:
    def __init__(self, size: int) -> None:
        self.size = size

    def get_vocab_size(self) -> int:
        return self.size

    def token_to_id(self, token: str) -> int:
        return {"[CLS]": 1, "[SEP]": 2}[token]


class _Teacher:
    """Token i's vector is a fixed random one: what the distillation does to it is known."""

    dim = 300

    def __init__(self, size: int) -> None:
        self.tokenizer = _Vocabulary(size)
        self.vectors = np.random.default_rng(0).normal(size=(size, self.dim)).astype(np.float32)
        self.seen: list[np.ndarray] = []

    def embed_token_ids(self, rows: np.ndarray) -> np.ndarray:
        self.seen.append(rows)
        assert (rows[:, 0] == 1).all() and (rows[:, 2] == 2).all()  # [CLS] token [SEP]
        return self.vectors[rows[:, 1]]


def test_distillation_is_pca_then_sif_weights() -> None:
    teacher = _Teacher(700)
    table = static.distil(teacher)
    assert table.shape == (700, static.DIMS) and table.dtype == np.float32
    assert sorted(np.concatenate([r[:, 1] for r in teacher.seen]).tolist()) == list(range(700))
    centred = teacher.vectors - teacher.vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[: static.DIMS].T
    ranks = 1.0 / np.arange(2, 702)
    weights = static.SIF / (static.SIF + ranks / ranks.sum())
    assert np.allclose(table, projected * weights[:, None], atol=1e-4)
    assert weights[0] < weights[-1]  # frequent (early) tokens count less


@needs_minilm
def test_minilm_static_embeds_texts_as_token_means() -> None:
    encoder = get("minilm-static")
    texts = ["Are Burritos the Next Taco?", "tacos and burritos", "stock markets fell", "?"]
    vectors = encoder.encode(texts)
    assert vectors.shape == (4, 256) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    table = encoder.table()  # type: ignore[attr-defined]
    from embedspace.encoders.minilm import plain_tokenizer

    ids = plain_tokenizer().encode(texts[1]).ids
    expected = table[ids].mean(axis=0)
    assert np.allclose(vectors[1], expected / np.linalg.norm(expected), atol=1e-5)
    with pytest.raises(Exception, match="not images"):
        encoder.encode_images(["x.png"])
