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
    # fewer directions: what survives is the targets in their top 5 principal directions
    narrow = static.fit_map(pooled, targets, dims=5)
    assert narrow.shape == (40, 5)
    centred = targets - targets.mean(axis=0)
    top = np.linalg.svd(centred, full_matrices=False)[2][:5]
    expected = targets[:50] @ top.T  # sign and order of the directions aside: compare Gram
    made5 = pooled[:50] @ narrow
    gram = expected @ expected.T  # the ridge shrinks the map by ~1%: a 5% tolerance
    assert np.allclose(made5 @ made5.T, gram, rtol=0.05, atol=0.05 * np.abs(gram).mean())
    # blocks of rows give the same map as one block
    import embedspace.encoders.static as module

    block = module._FIT_BLOCK
    try:
        module._FIT_BLOCK = 700
        assert np.allclose(static.fit_map(pooled, targets, dims=30), mapping, atol=1e-4)
    finally:
        module._FIT_BLOCK = block
    with pytest.raises(InvalidInput, match="as many targets"):
        static.fit_map(pooled, targets[:-1])
    with pytest.raises(InvalidInput, match="at least 40"):
        static.fit_map(pooled[:10], targets[:10])
    with pytest.raises(InvalidInput, match="dims must be between 1 and 30"):
        static.fit_map(pooled, targets, dims=31)


def test_mean_rows_gathers_a_bounded_number_of_tokens_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = np.random.default_rng(4).normal(size=(50, 8)).astype(np.float32)
    token_ids = [[1, 2, 3], [], [4] * 9, [5, 6], [7], [], [8, 9, 10, 11]]
    whole = static.mean_rows(table, token_ids)
    for i, ids in enumerate(token_ids):
        expected = table[ids].mean(axis=0) if ids else np.zeros(8)
        norm = np.linalg.norm(expected)
        assert np.allclose(whole[i], expected / norm if norm else expected, atol=1e-6)
    monkeypatch.setattr(static, "_GATHER_TOKENS", 4)  # the 9-token text alone exceeds it
    assert np.array_equal(static.mean_rows(table, token_ids), whole)


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
    # spaces record the table's version and map, and refuse to mix another table's vectors
    assert encoder.runtime_recipe().startswith(f"table {static.VERSION} map ")
    assert encoder.unrecorded_recipe == "table v2" and not encoder.recipes_comparable
    with pytest.raises(Exception, match="not images"):
        encoder.encode_images(["x.png"])
