"""The CLIP path end to end with a tiny randomly initialised CLIP that the test builds:
loading from a folder, tokenizer and image processor, both towers, normalisation, and
search across modalities. No download."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace.encoders.clip import ClipEncoder
from embedspace.errors import ModelNotAvailable
from embedspace.ops import classify_images

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("tiny-clip")
    vocab: dict[str, int] = {}
    for suffix in ("", "</w>"):
        for letter in "abcdefghijklmnopqrstuvwxyz":
            vocab[letter + suffix] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    end = vocab["<|endoftext|>"]
    config = transformers.CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 77,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": end,
            "pad_token_id": end,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    torch.manual_seed(0)
    model = transformers.CLIPModel(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    processor = transformers.CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor.save_pretrained(folder)
    return folder, model


def _direct_text(folder: Path, model: object, texts: list[str]) -> np.ndarray:
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    with torch.no_grad():
        out = model.get_text_features(**tokenizer(texts, padding=True, return_tensors="pt"))  # type: ignore[attr-defined]
    out = getattr(out, "pooler_output", out).numpy()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _direct_images(folder: Path, model: object, images: list[object]) -> np.ndarray:
    processor = transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    with torch.no_grad():
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        out = model.get_image_features(pixel_values=pixels)  # type: ignore[attr-defined]
    out = getattr(out, "pooler_output", out).numpy()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _pictures(folder: Path) -> list[Path]:
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for index in range(6):
        pixels = rng.integers(0, 256, (40 + index, 50, 3), dtype=np.uint8)
        path = folder / f"picture-{index}.png"
        Image.fromarray(pixels, "RGB").save(path)
        paths.append(path)
    return paths


def test_a_clip_folder_loads_and_both_towers_match_transformers(tiny_clip, tmp_path: Path) -> None:
    folder, model = tiny_clip
    encoder = es.encoders.get(str(folder))
    assert isinstance(encoder, ClipEncoder)
    assert (encoder.dim, encoder.modalities) == (16, {"text", "image"})
    assert encoder._parts is None  # nothing loaded until used
    texts = ["a cat", "the dog barks", "zebra"]
    vectors = encoder.encode(texts)
    np.testing.assert_allclose(vectors, _direct_text(folder, model, texts), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    paths = _pictures(tmp_path / "pictures")
    images = encoder.encode_images([str(p) for p in paths], batch_size=4)
    expected = _direct_images(folder, model, [Image.open(p).convert("RGB") for p in paths])
    np.testing.assert_allclose(images, expected, atol=1e-5)


def test_search_across_modalities_with_clip(tiny_clip, tmp_path: Path) -> None:
    folder, model = tiny_clip
    paths = _pictures(tmp_path / "pictures")
    space = es.Space.create("clip", encoder=str(folder))
    result, rejected = space.upsert_images(tmp_path / "pictures")
    assert (result.added, rejected) == (6, [])
    query = "a red zebra"
    scores = (
        _direct_images(folder, model, [Image.open(p).convert("RGB") for p in paths])
        @ (_direct_text(folder, model, [query])[0])
    )
    expected = [paths[i].name for i in np.argsort(-scores)]
    found = space.search(query, k=6)
    assert [m.id for m in found] == expected
    np.testing.assert_allclose([m.score for m in found], np.sort(scores)[::-1], atol=1e-4)
    assert space.search_image(paths[2], k=1)[0].id == paths[2].name
    space.close()
    labels = classify_images(paths, ["cat", "dog"], encoder=str(folder))
    assert {c.label for c in labels} <= {"cat", "dog"} and len(labels) == 6


def test_clip_errors_and_hub_ids_are_explicit(tiny_clip, tmp_path: Path) -> None:
    folder, _ = tiny_clip
    broken = tmp_path / "broken-clip"
    broken.mkdir()
    (broken / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(ModelNotAvailable, match="Cannot load the CLIP model"):
        es.encoders.get(str(broken)).encode(["a cat"])
    hub = es.encoders.get("hf:openai/clip-vit-base-patch32")
    assert isinstance(hub, ClipEncoder) and hub.hub_id == "openai/clip-vit-base-patch32"
    assert hub.name == "hf:openai/clip-vit-base-patch32" and hub._parts is None
    assert ClipEncoder(folder).label_template == "a photo of a {}"


def test_exported_onnx_towers_match_torch(tiny_clip, tmp_path: Path) -> None:
    import shutil

    from click.testing import CliRunner

    from embedspace.cli import main

    source, model = tiny_clip
    folder = tmp_path / "clip-copy"
    shutil.copytree(source, folder)
    result = CliRunner().invoke(main, ["export-onnx", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (folder / "onnx" / "text.onnx").is_file() and (folder / "onnx" / "vision.onnx").is_file()
    encoder = es.encoders.get(str(folder))
    assert isinstance(encoder, ClipEncoder) and encoder.onnx_folder() is not None
    texts = ["a cat", "the dog barks loudly", "zebra"]
    np.testing.assert_allclose(encoder.encode(texts), _direct_text(folder, model, texts), atol=1e-4)
    paths = _pictures(tmp_path / "pictures")
    expected = _direct_images(folder, model, [Image.open(p).convert("RGB") for p in paths])
    np.testing.assert_allclose(encoder.encode_images([str(p) for p in paths]), expected, atol=1e-4)
    assert encoder._parts is not None and encoder._parts[0] is None  # torch never ran the model
    not_clip = CliRunner().invoke(main, ["export-onnx", str(tmp_path)])
    assert not_clip.exit_code == 1 and "not a transformers CLIP folder" in not_clip.stderr
