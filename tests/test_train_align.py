"""Alignment training (LiT): heads trained on frozen encoders, saved, loaded as an encoder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import embedspace as es
from embedspace.cli import main
from embedspace.encoders.aligned import AlignedEncoder
from embedspace.errors import InvalidInput
from embedspace.train.align import AlignSettings, train_align
from tests.conftest import COLOURS

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("torch")

WORDS = {"red": "tomato", "green": "frog", "blue": "ocean", "yellow": "banana"}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _pairs(folder: Path, count: int = 48) -> tuple[list[str], list[str]]:
    """Noisy colour photos captioned with words the frozen text encoder cannot link to the
    colour (it hashes them): only training can connect 'tomato' to red pictures."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images, captions = [], []
    for i in range(count):
        colour = list(WORDS)[i % len(WORDS)]
        base = np.asarray(COLOURS[colour], np.float32)
        noisy = np.clip(base + rng.normal(0, 25, (12, 12, 3)), 0, 255).astype(np.uint8)
        path = folder / f"{i:03d}-{colour}.png"
        Image.fromarray(noisy, "RGB").save(path)
        images.append(str(path))
        captions.append(f"a {WORDS[colour]}")
    return images, captions


SMALL = AlignSettings(dim=8, hidden=16, epochs=60, batch_size=16, validation=0.25, patience=60)


def test_training_links_captions_to_images_and_loads_as_an_encoder(tmp_path: Path) -> None:
    images, captions = _pairs(tmp_path / "photos")
    report = train_align(
        images,
        captions,
        tmp_path / "model",
        image_encoder="fake-image-only",
        text_encoder="fake",
        settings=SMALL,
    )
    assert report.pairs == 48 and 1 <= report.best_epoch <= report.epochs_run
    assert report.validation_recall == 1.0
    encoder = es.encoders.get(str(tmp_path / "model"))
    assert isinstance(encoder, AlignedEncoder)
    assert encoder.dim == 8 and encoder.modalities == {"text", "image"}
    space = es.Space.create("aligned", encoder=encoder)
    space.upsert_images(tmp_path / "photos")
    for colour, word in WORDS.items():
        top = space.search(f"a {word}", k=5)
        assert all(m.id.endswith(f"-{colour}.png") for m in top), (word, [m.id for m in top])
    space.close()


def test_training_is_reproducible_and_overwrites_a_model_atomically(tmp_path: Path) -> None:
    images, captions = _pairs(tmp_path / "photos", 24)
    common = dict(image_encoder="fake-image-only", text_encoder="fake", settings=SMALL)
    train_align(images, captions, tmp_path / "a", **common)  # type: ignore[arg-type]
    train_align(images, captions, tmp_path / "b", **common)  # type: ignore[arg-type]
    first = AlignedEncoder(tmp_path / "a").weights()
    second = AlignedEncoder(tmp_path / "b").weights()
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    train_align(images, captions, tmp_path / "a", **common)  # type: ignore[arg-type]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["align.json", "heads.safetensors"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "precious.txt").write_text("keep me")
    with pytest.raises(InvalidInput, match="not an alignment model"):
        train_align(images, captions, tmp_path / "taken", **common)  # type: ignore[arg-type]
    assert (tmp_path / "taken" / "precious.txt").read_text() == "keep me"


def test_bad_training_input_is_refused(tmp_path: Path) -> None:
    images, captions = _pairs(tmp_path / "photos", 12)
    with pytest.raises(InvalidInput, match="pair them"):
        train_align(
            images,
            captions[:-1],
            tmp_path / "m",
            image_encoder="fake-image-only",
            text_encoder="fake",
        )
    with pytest.raises(InvalidInput, match="at least 8"):
        train_align(
            images[:3],
            captions[:3],
            tmp_path / "m",
            image_encoder="fake-image-only",
            text_encoder="fake",
        )
    with pytest.raises(InvalidInput, match="must embed images"):
        train_align(images, captions, tmp_path / "m", image_encoder="fake", text_encoder="fake")
    with pytest.raises(InvalidInput, match="non-empty"):
        train_align(
            images,
            ["  "] * 12,
            tmp_path / "m",
            image_encoder="fake-image-only",
            text_encoder="fake",
        )


def test_cli_trains_then_indexes_and_searches_with_the_model(tmp_path: Path) -> None:
    images, captions = _pairs(tmp_path / "photos")
    pairs = tmp_path / "pairs.csv"
    with pairs.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "caption"])
        writer.writerows((Path(i).name, c) for i, c in zip(images, captions, strict=True))
    result = run(
        "train",
        "align",
        str(pairs),
        "--images",
        str(tmp_path / "photos"),
        "-o",
        str(tmp_path / "model"),
        "--image-encoder",
        "fake-image-only",
        "--text-encoder",
        "fake",
        "--dim",
        "8",
        "--hidden",
        "16",
        "--epochs",
        "60",
        "--batch-size",
        "16",
        "--validation",
        "0.25",
        "--patience",
        "60",
        "--json",
    )
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts["pairs"] == 48 and facts["validation_recall_at_1"] == 1.0
    assert (
        run(
            "index", "pics", str(tmp_path / "photos"), "--encoder", str(tmp_path / "model")
        ).exit_code
        == 0
    )
    found = json.loads(run("search", "pics", "a banana", "-k", "1", "--json").stdout)
    assert found["id"].endswith("-yellow.png")

    with pairs.open("a") as handle:
        handle.write("missing.png,a ghost\n")
    broken = run(
        "train",
        "align",
        str(pairs),
        "--images",
        str(tmp_path / "photos"),
        "-o",
        str(tmp_path / "m2"),
    )
    assert (
        broken.exit_code == 1
        and "missing.png" in broken.stderr
        and "does not exist" in broken.stderr
    )
