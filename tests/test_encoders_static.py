"""minilm-static: the token table distilled from MiniLM, and texts as means of it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import needs_minilm

from embedspace.encoders import get, static
from embedspace.errors import InvalidInput, ModelNotAvailable


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


def test_distillation_is_centred_sif_weighted_tokens_through_the_map() -> None:
    teacher = _Teacher(700)
    mapping = np.random.default_rng(1).normal(size=(300, static.DIMS)).astype(np.float32)
    table = static.distil(teacher, mapping=mapping)
    assert table.shape == (700, static.DIMS) and table.dtype == np.float32
    assert sorted(np.concatenate([r[:, 1] for r in teacher.seen]).tolist()) == list(range(700))
    centred = teacher.vectors - teacher.vectors.mean(axis=0)
    ranks = 1.0 / np.arange(2, 702)
    weights = static.SIF / (static.SIF + ranks / ranks.sum())
    assert np.allclose(table, (centred * weights[:, None]) @ mapping, rtol=1e-4, atol=1e-3)
    assert weights[0] < weights[-1]  # frequent (early) tokens count less


def test_fit_map_learns_where_the_teacher_puts_each_text() -> None:
    rng = np.random.default_rng(2)
    pooled = rng.normal(size=(3000, 40))
    planted = rng.normal(size=(40, 30))
    targets = pooled @ planted
    mapping = static.fit_map(pooled, targets, dims=30)
    assert mapping.shape == (40, 30) and mapping.dtype == np.float32
    # all 30 directions kept: the map's outputs are the targets, turned (cosines kept)
    made = pooled @ mapping
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    assert np.allclose(
        unit(made[:50]) @ unit(made[:50]).T, unit(targets[:50]) @ unit(targets[:50]).T, atol=2e-3
    )
    # fewer directions: the targets' main directions survive, the smallest one goes
    narrow = static.fit_map(pooled, targets, dims=5)
    assert narrow.shape == (40, 5)
    kept = np.linalg.norm(pooled @ narrow, axis=1).mean() / np.linalg.norm(targets, axis=1).mean()
    assert 0.3 < kept < 1.0
    with pytest.raises(InvalidInput, match="as many targets"):
        static.fit_map(pooled, targets[:-1])
    with pytest.raises(InvalidInput, match="at least 40"):
        static.fit_map(pooled[:10], targets[:10])


def test_the_shipped_map_fits_minilm() -> None:
    mapping = static.shipped_map()
    assert mapping.shape == (384, static.DIMS) and mapping.dtype == np.float32
    assert np.isfinite(mapping).all() and np.linalg.matrix_rank(mapping) == static.DIMS
    assert np.load(static.MAP_FILE).dtype == np.float16  # shipped at half the bytes


def test_an_unreadable_map_says_how_to_get_it_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "map.npy"
    broken.write_bytes(b"not numpy")
    monkeypatch.setattr(static, "MAP_FILE", broken)
    with pytest.raises(ModelNotAvailable, match="reinstall embedspace"):
        static.shipped_map()


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
    assert encoder.runtime_recipe() == f"table {static.VERSION}"  # spaces record it
    with pytest.raises(Exception, match="not images"):
        encoder.encode_images(["x.png"])
