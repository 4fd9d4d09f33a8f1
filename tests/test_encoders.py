from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest

from embedspace import encoders
from embedspace.encoders import Encoder, HashingEncoder
from embedspace.errors import EmbedspaceError, InvalidInput, UnknownEncoder


def test_get_by_name_alias_and_instance() -> None:
    assert encoders.get("minilm-l6").name == "minilm-l6"
    assert encoders.get("all-MiniLM-L6-v2").name == "minilm-l6"
    assert encoders.get(None).name == "minilm-l6"
    hashing = HashingEncoder()
    assert encoders.get(hashing) is hashing


def test_unknown_encoder_suggests_the_closest_name() -> None:
    with pytest.raises(UnknownEncoder, match=r"Did you mean 'minilm-l6'\?.*embedspace encoders"):
        encoders.get("minilm")


def test_constructing_an_encoder_touches_no_files(monkeypatch: pytest.MonkeyPatch) -> None:
    import embedspace.encoders.minilm as minilm

    def boom(*args: object) -> Path:
        raise AssertionError("model files touched at construction")

    monkeypatch.setattr(minilm, "prepared_model", boom)
    monkeypatch.setattr(minilm, "_model_dir", boom)
    monkeypatch.setattr(minilm.BertFolder, "tokenizer", boom)
    encoder = encoders.get("minilm-l6")
    assert (encoder.dim, encoder.metric, encoder.normalized) == (384, "cosine", True)


def test_plugins_come_from_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    point = EntryPoint(
        "plugged", "embedspace.encoders.hashing:HashingEncoder", "embedspace.encoders"
    )
    monkeypatch.setattr(
        "importlib.metadata.entry_points",  # the registry imports it when it looks
        lambda group: [point] if group == encoders.ENTRY_POINT_GROUP else [],
    )
    assert "plugged" in [e.name for e in encoders.entries()]
    assert isinstance(encoders.get("plugged"), HashingEncoder)


def test_a_plugin_returning_something_else_is_reported() -> None:
    encoders.register("broken", lambda: "not an encoder")  # type: ignore[arg-type,return-value]
    try:
        with pytest.raises(EmbedspaceError, match="not an embedspace Encoder"):
            encoders.get("broken")
    finally:
        encoders.unregister("broken")


def test_paths_that_hold_no_model(tmp_path: Path) -> None:
    with pytest.raises(UnknownEncoder, match="No model directory"):
        encoders.get(str(tmp_path / "missing"))
    with pytest.raises(UnknownEncoder, match="holds no model"):
        encoders.get(str(tmp_path))


def test_hashing_is_deterministic_normalised_and_lexical() -> None:
    encoder = HashingEncoder()
    first = encoder.encode(["the cat sat", "a cat sat down", "stock prices fell"])
    again = HashingEncoder().encode(["the cat sat", "a cat sat down", "stock prices fell"])
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.float32 and first.flags["C_CONTIGUOUS"] and first.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    assert first[0] @ first[1] > first[0] @ first[2]


def test_length_sorted_batches_keep_input_order(fake: Encoder) -> None:
    texts = [f"{'word ' * (i % 7)}item {i}" for i in range(50)]
    batched = fake.encode(texts, batch_size=4)
    one_by_one = np.vstack([fake.encode([t]) for t in texts])
    np.testing.assert_array_equal(batched, one_by_one)


def test_encode_validates_its_input(fake: Encoder) -> None:
    with pytest.raises(InvalidInput, match="not one string"):
        fake.encode("just a string")
    with pytest.raises(InvalidInput, match="Item 1 is empty"):
        fake.encode(["ok", "  "])
    with pytest.raises(InvalidInput, match="Item 0 is int"):
        fake.encode([3])  # type: ignore[list-item]
    assert fake.encode([]).shape == (0, 64)


def test_wrong_shape_from_a_subclass_is_caught() -> None:
    class Liar(HashingEncoder):
        def _encode_batch(self, batch: list[str]) -> np.ndarray:
            return np.zeros((len(batch), 3))

    with pytest.raises(EmbedspaceError, match=r"returned shape \(1, 3\), expected \(1, 256\)"):
        Liar().encode(["x"])


def test_hashing_each_distinct_word_once_gives_the_per_feature_vectors() -> None:
    """The hashing encoder sums each distinct word's features once, times its count: the
    vector must equal hashing every feature of every word (as it did before)."""
    import zlib

    texts = [
        "the cat sat on the mat, the cat!",
        "Ünïcödé wörds and ÇAPS and ünïcödé",
        "x" * 40 + " " + "x" * 40,
        "a",
        "numbers 12 12 12 and under_scores",
    ]
    for dim in (256, 48):
        encoder = HashingEncoder(dim=dim)
        expected = np.zeros((len(texts), dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in encoder._features(text):
                code = zlib.crc32(feature.encode("utf-8"))
                expected[row, code % dim] += 1.0 if code & 0x80000000 else -1.0
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        assert np.array_equal(encoder.encode(texts), expected)
