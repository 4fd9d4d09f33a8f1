"""Image files and folders as Records, and decoding them the same way every time.

A Record's ``content`` is the image's absolute path, its ``id`` the path relative to the
folder that was named (POSIX separators), its metadata the file's facts. Every file is
decoded once while reading, so a corrupt, truncated or non-image file becomes a Rejection
naming the path, before anything is embedded or written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embedspace.errors import InvalidInput, MissingExtra
from embedspace.io.readers import Rejection
from embedspace.io.records import Record

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})


def _pil() -> Any:
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise MissingExtra("Reading images", "images", "pillow") from None
    return Image, ImageOps


def is_image_path(path: Path) -> bool:
    """Whether ``path`` has one of the supported image suffixes (case-insensitive)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def load_image(path: str | Path) -> Any:
    """Decode an image as RGB: first frame of an animation, EXIF orientation applied,
    transparency composited on white, grayscale and palettes expanded.

    Raises ``InvalidInput`` naming the file when it cannot be decoded.
    """
    image_module, ops = _pil()
    try:
        with image_module.open(path) as opened:
            opened.seek(0)
            image = ops.exif_transpose(opened)
            image.load()
            if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                background = image_module.new("RGB", rgba.size, (255, 255, 255))
                background.paste(rgba, mask=rgba.getchannel("A"))
                return background
            return image.convert("RGB")
    except (OSError, ValueError, SyntaxError, image_module.DecompressionBombError) as error:
        raise InvalidInput(f"{path} is not a readable image: {error}") from None


def read_image_records(path: str | Path) -> Iterator[Record | Rejection]:
    """Yield a Record (or a Rejection) per image in a file or, recursively, a folder.

    Hidden files and folders are skipped; files with other suffixes in a folder are
    ignored; a named file that is not a supported image is a Rejection.
    """
    root = Path(path)
    if not root.exists():
        raise InvalidInput(f"Not found: {root}. Check the path.")
    if root.is_file():
        yield _record(root, root.parent)
        return
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(files):
            file = Path(folder) / name
            if not name.startswith(".") and is_image_path(file):
                yield _record(file, root)


def _record(file: Path, root: Path) -> Record | Rejection:
    relative = file.relative_to(root).as_posix()
    if not is_image_path(file):
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        return Rejection(str(file), 0, f"is not a supported image ({suffixes})")
    try:
        image = load_image(file)
    except InvalidInput as error:
        return Rejection(str(file), 0, str(error).removeprefix(f"{file} "))
    stat = file.stat()
    metadata = {
        "path": relative,
        "bytes": stat.st_size,
        "modified": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
        "width": image.width,
        "height": image.height,
        "format": file.suffix.lower().lstrip("."),
    }
    return Record(id=relative, content=str(file.resolve()), metadata=metadata)
