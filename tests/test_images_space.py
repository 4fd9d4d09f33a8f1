"""Image spaces end to end with the tiny fake image encoder: index folders, search by image
and by text, classify, and never a crash or a half-written space on bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import embedspace as es
from embedspace.cli import main
from embedspace.errors import InvalidInput
from embedspace.ops import classify_images, classify_space, parse_labels
from tests.conftest import COLOURS

Image = pytest.importorskip("PIL.Image")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _photos(folder: Path) -> Path:
    """Three colour photos (two formats, one in a subfolder) and three bad files."""
    (folder / "more").mkdir(parents=True)
    Image.new("RGB", (64, 48), COLOURS["red"]).save(folder / "red.jpg", quality=95)
    Image.new("RGB", (50, 50), COLOURS["green"]).save(folder / "green.png")
    Image.new("RGB", (40, 60), COLOURS["blue"]).save(folder / "more" / "blue.webp")
    good = folder / "red.jpg"
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[:200])
    (folder / "fake.png").write_text("this is text, not a PNG")
    (folder / "empty.gif").write_bytes(b"")
    return folder


def test_index_a_folder_skips_bad_files_and_searches_by_image_and_text(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    result = run("index", "pics", str(photos), "--encoder", "fake-image")
    assert result.exit_code == 0, result.output
    assert "3 added" in result.stdout and "3 rejected" in result.stdout
    for name in ("truncated.jpg", "fake.png", "empty.gif"):
        assert str(photos / name) in result.stderr
    with es.Space.open("pics") as space:
        assert sorted(space.ids()) == ["green.png", "more/blue.webp", "red.jpg"]
        assert space.get("red.jpg").metadata["width"] == 64  # type: ignore[union-attr]

    query = tmp_path / "query.png"
    Image.new("RGB", (20, 20), (250, 10, 10)).save(query)
    found = run("search", "pics", "--image", str(query), "-k", "3", "--json")
    rows = [json.loads(line) for line in found.stdout.splitlines()]
    assert [r["id"] for r in rows][0] == "red.jpg"
    assert rows[0]["score"] > rows[1]["score"] + 0.5

    by_text = [
        json.loads(line)
        for line in run("search", "pics", "blue", "--json").stdout.split("\n")
        if line
    ]
    assert by_text[0]["id"] == "more/blue.webp"
    similar = run("similar", "pics", "red.jpg", "-k", "1", "--json")
    assert json.loads(similar.stdout)["id"] != "red.jpg"


def test_reindexing_embeds_only_changed_images(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    encoder = es.encoders.get("fake-image")
    space = es.Space.create("pics", encoder=encoder)
    first, rejected = space.upsert_images(photos)
    assert (first.added, first.embedded, len(rejected)) == (3, 3, 3)
    again, _ = space.upsert_images(photos)
    assert (again.unchanged, again.embedded) == (3, 0)
    Image.new("RGB", (64, 48), COLOURS["yellow"]).save(photos / "red.jpg")  # same path, new pixels
    changed, _ = space.upsert_images(photos)
    assert (changed.updated, changed.embedded) == (1, 1)
    assert space.search("yellow", k=1)[0].id == "red.jpg"
    space.close()


def test_a_failing_encoder_writes_nothing(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")

    class Broken(type(es.encoders.get("fake-image"))):  # type: ignore[misc]
        def _encode_batch(self, batch: list[np.ndarray], modality: str = "text") -> np.ndarray:
            if modality == "image":
                raise RuntimeError("the model crashed")
            return super()._encode_batch(batch, modality)

    space = es.Space.create("pics", encoder=Broken())
    with pytest.raises(RuntimeError):
        space.upsert_images(photos)
    assert len(space) == 0
    space.close()


def test_clear_errors_for_wrong_modalities_and_bad_queries(tmp_path: Path, home: Path) -> None:
    photos = _photos(tmp_path / "photos")
    assert run("index", "pics", str(photos), "--encoder", "fake-image-only").exit_code == 0
    text = run("search", "pics", "a red car")
    assert text.exit_code == 1 and "not text" in text.stderr and "--image" in text.stderr
    missing = run("search", "pics", "--image", str(tmp_path / "nope.jpg"))
    assert missing.exit_code == 1 and "No image file" in missing.stderr
    neither = run("search", "pics")
    assert neither.exit_code == 1 and "QUERY" in neither.stderr
    corrupt = run("search", "pics", "--image", str(photos / "fake.png"))
    assert corrupt.exit_code == 1 and "not a readable image" in corrupt.stderr
    with pytest.raises(InvalidInput, match="not images"):
        es.encoders.get("fake").encode_images([str(photos / "red.jpg")])
    with pytest.raises(InvalidInput, match="list of images"):
        es.encoders.get("fake-image").encode_images(str(photos / "red.jpg"))
    with pytest.raises(InvalidInput, match="file path or a PIL image"):
        es.encoders.get("fake-image").encode_images([42])
    # a text encoder refuses an image folder before creating the space
    refused = run("index", "words", str(photos), "--encoder", "fake")
    assert refused.exit_code == 1 and "nothing was written" in refused.stderr
    assert not (home / "words").exists() and (home / "pics").exists()
    texts = tmp_path / "notes.txt"
    texts.write_text("a note\n")
    into_images = run("index", "pics", str(texts))
    assert into_images.exit_code == 1 and "embeds images, not text" in into_images.stderr


def test_encode_images_takes_paths_and_pil_images_in_order(tmp_path: Path) -> None:
    encoder = es.encoders.get("fake-image")
    paths = []
    for index, colour in enumerate(("red", "green", "blue", "white", "black")):
        path = tmp_path / f"{index}.png"
        Image.new("RGB", (9 + index, 9), COLOURS[colour]).save(path)
        paths.append(str(path))
    mixed = [paths[0], Image.open(paths[1]), Path(paths[2]), paths[3], paths[4]]
    vectors = encoder.encode_images(mixed, batch_size=2)
    assert vectors.shape == (5, 48) and vectors.dtype == np.float32
    expected = encoder.encode(["red", "green", "blue", "white", "black"])
    np.testing.assert_allclose(vectors, expected, atol=0.02)
    assert encoder.encode_images([]).shape == (0, 48)


def test_classify_a_folder_and_a_space(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    result = run(
        "classify", str(photos), "--labels", "red,green,blue", "--encoder", "fake-image", "--json"
    )
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert {k: v["label"] for k, v in rows.items()} == {
        "red.jpg": "red",
        "green.png": "green",
        "more/blue.webp": "blue",
    }
    assert all(set(r) == {"id", "label", "score"} and r["score"] > 0.9 for r in rows.values())
    assert "truncated.jpg" in result.stderr

    space = es.Space.create("pics", encoder="fake-image")
    space.upsert_images(photos)
    labelled = {c.id: c.label for c in classify_space(space, "yellow, blue ,green")}
    assert labelled["more/blue.webp"] == "blue" and labelled["green.png"] == "green"
    space.close()
    table = run("classify", "pics", "--labels", "red,green,blue")
    assert table.exit_code == 0 and "red.jpg" in table.stdout
    direct = classify_images([photos / "red.jpg"], ["red", "blue"], encoder="fake-image")
    assert direct[0].label == "red"


def test_classify_rejects_bad_labels_and_targets(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="at least two"):
        parse_labels("cat")
    with pytest.raises(InvalidInput, match="empty"):
        parse_labels("cat,,dog")
    with pytest.raises(InvalidInput, match="repeat"):
        parse_labels(["cat", "dog", "cat"])
    missing = run("classify", "nowhere", "--labels", "a,b")
    assert missing.exit_code == 1 and "neither a space nor a folder" in missing.stderr
    photos = _photos(tmp_path / "photos")
    image_only = run("classify", str(photos), "--labels", "a,b", "--encoder", "fake-image-only")
    assert image_only.exit_code == 1 and "cannot embed label texts" in image_only.stderr


def test_files_in_a_folder_that_the_encoder_cannot_embed_are_skipped_and_reported(
    tmp_path: Path,
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (32, 32), COLOURS["red"]).save(photos / "red.png")
    (photos / "README.txt").write_text("Where these photos come from.")
    result = run("index", "pics", str(photos), "--encoder", "fake-image-only", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) | {"seconds": 0} == {
        "space": "pics",
        "added": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
        "embedded": 1,
        "count": 1,
        "seconds": 0,
        "truncated": 0,
        "split": 0,
        "passages": 0,
    }
    assert "README.txt: is a text file, and encoder 'fake-image-only' embeds image only" in (
        result.stderr
    )
    # with an encoder for both, the text file is an item too
    both = run("index", "mixed", str(photos), "--encoder", "fake-image", "--json")
    assert json.loads(both.stdout)["added"] == 2
