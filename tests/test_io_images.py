from __future__ import annotations

from pathlib import Path

import pytest

from embedspace.errors import InvalidInput
from embedspace.io import Record, Rejection, load_image, read_image_records

Image = pytest.importorskip("PIL.Image")


def _photo(
    size: tuple[int, int] = (40, 20), colour: tuple[int, int, int] = (200, 30, 30)
) -> object:
    image = Image.new("RGB", size, colour)
    image.paste((10, 10, 240), (0, 0, size[0] // 2, size[1]))  # left half blue: asymmetric
    return image


def test_formats_modes_and_relative_ids(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _photo().save(tmp_path / "a.jpg")
    _photo().save(tmp_path / "sub" / "b.png")
    _photo().convert("L").save(tmp_path / "grey.bmp")
    _photo().save(tmp_path / "c.webp")
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    rgba.save(tmp_path / "clear.png")
    frames = [_photo(colour=(0, 255, 0)), _photo(colour=(255, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "notes.txt").write_text("not an image, ignored in a folder")
    (tmp_path / ".hidden.png").write_bytes(b"ignored")
    records = list(read_image_records(tmp_path))
    assert all(isinstance(r, Record) for r in records)
    assert [r.id for r in records] == [
        "a.jpg",
        "anim.gif",
        "c.webp",
        "clear.png",
        "grey.bmp",
        "sub/b.png",
    ]
    first = records[0]
    assert first.content == str((tmp_path / "a.jpg").resolve())
    assert first.metadata["width"] == 40 and first.metadata["height"] == 20
    assert first.metadata["format"] == "jpg" and first.metadata["bytes"] > 0
    assert load_image(tmp_path / "grey.bmp").mode == "RGB"
    assert load_image(tmp_path / "clear.png").getpixel((0, 0)) == (255, 255, 255)  # on white
    assert load_image(tmp_path / "anim.gif").getpixel((30, 10)) == (0, 255, 0)  # first frame


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = _photo((40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    image.save(tmp_path / "rotated.jpg", exif=exif)
    loaded = load_image(tmp_path / "rotated.jpg")
    assert loaded.size == (20, 40)
    assert loaded.getpixel((10, 5))[2] > 200  # the blue half is now on top


def test_corrupt_truncated_and_fake_images_are_rejected_by_path(tmp_path: Path) -> None:
    _photo((200, 200)).save(tmp_path / "good.jpg")
    data = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "fake.png").write_text("I am text with an image name")
    results = {
        Path(r.path).name if isinstance(r, Rejection) else r.id: r
        for r in read_image_records(tmp_path)
    }
    assert isinstance(results["good.jpg"], Record)
    for name in ("truncated.jpg", "fake.png"):
        rejection = results[name]
        assert isinstance(rejection, Rejection) and "not a readable image" in rejection.reason
        assert str(rejection).startswith(str(tmp_path / name))
    with pytest.raises(InvalidInput, match="fake.png is not a readable image"):
        load_image(tmp_path / "fake.png")


def test_a_named_file_and_missing_paths(tmp_path: Path) -> None:
    _photo().save(tmp_path / "one.png")
    (record,) = read_image_records(tmp_path / "one.png")
    assert isinstance(record, Record) and record.id == "one.png"
    (tmp_path / "doc.pdf").write_bytes(b"%PDF")
    (rejection,) = read_image_records(tmp_path / "doc.pdf")
    assert isinstance(rejection, Rejection) and "not a supported image" in rejection.reason
    with pytest.raises(InvalidInput, match="Not found"):
        list(read_image_records(tmp_path / "missing"))
