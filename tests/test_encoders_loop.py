"""The one encoder loop: modalities told apart and grouped, one ``_encode_batch(batch,
modality)``, progress through a callback, typed errors for what cannot run."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from embedspace import encoders
from embedspace.encoders import Encoder, HashingEncoder
from embedspace.encoders.listing import MODEL_KINDS
from embedspace.encoders.registry import MODEL_FORMATS, _resolve
from embedspace.errors import (
    EmbedspaceError,
    InvalidInput,
    MissingExtra,
    ModelNotAvailable,
)


class Tiny(Encoder):
    """Implements only ``_encode_batch(batch, modality)``: a text is its length and word
    count, an image its mean colour; it records every batch it saw."""

    name = "tiny"
    modalities = frozenset({"text", "image"})

    def __init__(self) -> None:
        self.batches: list[tuple[str, int]] = []

    @property
    def dim(self) -> int:
        return 3

    def _prepare_image(self, image: Any) -> np.ndarray:
        return np.asarray(image, dtype=np.float32).reshape(-1, 3).mean(axis=0) / 255.0

    def _encode_batch(self, batch: list[Any], modality: str = "text") -> np.ndarray:
        self.batches.append((modality, len(batch)))
        if modality == "image":
            return np.stack(batch)
        return np.array([[len(t), len(t.split()), 0.0] for t in batch], dtype=np.float32)


def _picture(folder: Path, name: str, colour: tuple[int, int, int]) -> Path:
    path = folder / name
    Image.new("RGB", (6, 5), colour).save(path)
    return path


def test_mixed_modalities_come_back_in_input_order(tmp_path: Path) -> None:
    red = _picture(tmp_path, "red.png", (255, 0, 0))
    blue = Image.new("RGB", (4, 4), (0, 0, 255))
    encoder = Tiny()
    vectors = encoder.encode(["a b c", red, "hello", blue, "x"], batch_size=2)
    assert vectors.shape == (5, 3) and vectors.dtype == np.float32
    assert vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(vectors[0], [5, 3, 0])
    np.testing.assert_allclose(vectors[1], [1, 0, 0])
    np.testing.assert_allclose(vectors[3], [0, 0, 1])
    np.testing.assert_allclose(vectors[4], [1, 1, 0])
    # grouped by modality, batched within each group
    assert sorted(encoder.batches) == [("image", 2), ("text", 1), ("text", 2)]
    # str paths are images only for encode_images
    np.testing.assert_array_equal(encoder.encode_images([str(red)]), vectors[[1]])


def test_text_batches_are_length_sorted_and_images_prefetched_in_order(tmp_path: Path) -> None:
    encoder = Tiny()
    texts = [f"{'w ' * (i % 5)}t{i}" for i in range(11)]
    together = encoder.encode(texts, batch_size=3)
    np.testing.assert_array_equal(together, np.vstack([encoder.encode([t]) for t in texts]))
    colours = [(i * 20, 0, 255 - i * 20) for i in range(7)]
    paths = [_picture(tmp_path, f"{i}.png", c) for i, c in enumerate(colours)]
    images = encoder.encode_images(paths, batch_size=3)
    np.testing.assert_allclose(images[:, 0], [c[0] / 255 for c in colours], atol=1e-6)


def test_progress_is_a_callback_and_nothing_is_drawn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events: list[tuple[str, int, int | None]] = []
    encoder = Tiny()
    red = _picture(tmp_path, "red.png", (255, 0, 0))
    encoder.encode(["a", "bb", red, "ccc", "dddd"], batch_size=2, on_progress=_add(events))
    assert events[0] == ("Embedding with tiny", 0, 5)
    assert events[-1] == ("Embedding with tiny", 5, 5)
    done = [e[1] for e in events]
    assert done == sorted(done) and len(events) == 1 + 3  # 2 text batches + 1 image batch
    events.clear()
    encoder.encode_images([red, red, red], batch_size=2, on_progress=_add(events))
    assert events == [(f"Embedding images with {encoder.name}", n, 3) for n in (0, 2, 3)]
    events.clear()
    encoder.encode_query(["q"], on_progress=_add(events))
    encoder.encode_document(["d"], on_progress=_add(events))
    assert [e[1] for e in events] == [0, 1, 0, 1]
    assert capsys.readouterr().err == ""


def _add(events: list[tuple[str, int, int | None]]) -> Any:
    return lambda stage, done, total: events.append((stage, done, total))


def test_progress_true_warns_and_prints_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.warns(DeprecationWarning, match="on_progress"):
        HashingEncoder().encode(["a", "b", "c"], batch_size=1, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "Embedding with hashing: 0/3" and lines[-1] == "Embedding with hashing: 3/3"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        HashingEncoder().encode(["a"], progress=False)  # the default never warns


def test_wrong_modalities_and_items_are_invalid_input(tmp_path: Path) -> None:
    red = _picture(tmp_path, "red.png", (255, 0, 0))
    with pytest.raises(InvalidInput, match="embeds text, not images"):
        HashingEncoder().encode(["fine", red])
    with pytest.raises(InvalidInput, match="Item 1 is bytes"):
        Tiny().encode(["fine", b"raw"])
    with pytest.raises(InvalidInput, match="not one path"):
        Tiny().encode(red)  # type: ignore[arg-type]

    class ImagesOnly(Tiny):
        modalities = frozenset({"image"})

    with pytest.raises(InvalidInput, match="not text"):
        ImagesOnly().encode([red, "a red car"])
    assert ImagesOnly().encode([red]).shape == (1, 3)
    with pytest.raises(InvalidInput, match="batch_size must be at least 1"):
        Tiny().encode(["a"], batch_size=-1)


def test_encoders_that_cannot_run_raise_typed_errors() -> None:
    class NeedsExtra(Tiny):
        def availability_error(self) -> EmbedspaceError | None:
            return MissingExtra("Encoder 'tiny'", "images", "pillow")

    class OlderHook(Tiny):
        def unavailable_reason(self) -> str | None:
            return "its weights are not installed"

    with pytest.raises(MissingExtra, match=r"pip install 'embedspace\[images\]'") as raised:
        NeedsExtra().encode(["a"])
    assert isinstance(raised.value, ImportError) and raised.value.status == 501
    assert "pip install" in (NeedsExtra().unavailable_reason() or "")
    with pytest.raises(ModelNotAvailable, match="Encoder 'tiny' cannot run: its weights"):
        OlderHook().encode_images([Image.new("RGB", (2, 2))])
    assert NeedsExtra().encode([]).shape == (0, 3)  # nothing to embed: nothing to load
    assert Tiny().availability_error() is None and Tiny().unavailable_reason() is None


def test_missing_packages_are_missing_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without(*names: str) -> Any:
        return lambda name, *rest: None if name in names else real(name, *rest)

    clip = encoders.get("hf:openai/clip-vit-base-patch32")
    monkeypatch.setattr(importlib.util, "find_spec", without("torch"))
    with pytest.raises(MissingExtra, match=r"embedspace\[clip\]"):
        clip.encode(["a cat"])
    from embedspace.encoders.efficientnet import WEIGHTS_PACKAGE, EfficientNetLite0

    monkeypatch.setattr(importlib.util, "find_spec", without(WEIGHTS_PACKAGE))
    assert isinstance(EfficientNetLite0().availability_error(), ModelNotAvailable)
    monkeypatch.setattr(importlib.util, "find_spec", without("PIL"))
    error = EfficientNetLite0().availability_error()
    assert isinstance(error, MissingExtra) and "efficientnet-lite0" in str(error)
    monkeypatch.setattr(importlib.util, "find_spec", without("sentence_transformers"))
    from embedspace.encoders.sentence_transformers import SentenceTransformerEncoder

    with pytest.raises(MissingExtra, match=r"embedspace\[torch\]"):
        SentenceTransformerEncoder(Path("nowhere")).check_available()


def test_older_hooks_still_work_and_warn(tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match=r"_encode_batch\(batch, modality\)"):

        class Older(HashingEncoder):
            modalities = frozenset({"text", "image"})

            def _encode_batch(self, batch: list[str]) -> np.ndarray:
                return super()._encode_batch(batch) * 2

            def _encode_image_batch(self, batch: list[Any]) -> np.ndarray:
                return np.ones((len(batch), self.dim), dtype=np.float32)

    older = Older()
    np.testing.assert_allclose(older.encode(["cat"]), HashingEncoder().encode(["cat"]) * 2)
    red = _picture(tmp_path, "red.png", (255, 0, 0))
    np.testing.assert_array_equal(older.encode([red]), np.ones((1, 256), np.float32))

    class Newer(Older):  # the newest hook wins again
        def _encode_batch(self, batch: list[Any], modality: str = "text") -> np.ndarray:
            return np.full((len(batch), self.dim), 3.0 if modality == "image" else 2.0)

    assert Newer().encode([red, "cat"]).tolist() == [[3.0] * 256, [2.0] * 256]


def test_model_formats_are_registered_callables_listed_for_people() -> None:
    assert {f.kind for f in MODEL_FORMATS} == {k.kind for k in MODEL_KINDS}
    for model_format in MODEL_FORMATS:
        assert isinstance(model_format.probe, str) and isinstance(model_format.factory, str)
        assert callable(_resolve(model_format.probe)) and callable(_resolve(model_format.factory))
    assert MODEL_FORMATS[-1].kind == "sentence-transformers folder"  # the catch-all is last
    hub = encoders.get("hf:openai/clip-vit-base-patch32")
    assert hub.name == "hf:openai/clip-vit-base-patch32"
    tower = encoders.get("./movies-model#user")
    assert type(tower).__name__ == "TwoTowerEncoder" and tower.name.endswith("#user")
