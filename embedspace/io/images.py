"""Image files and folders as Records, and decoding them the same way every time.

A Record's ``content`` is the image's absolute path, its ``id`` the path relative to the
folder that was named (POSIX separators), its metadata the file's facts. Every file is
decoded once while reading, so a corrupt, truncated or non-image file becomes a Rejection
naming the path, before anything is embedded or written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embedspace.errors import InvalidInput, MissingExtra
from embedspace.io.records import Record, Rejection

EXIF_ORIENTATION = 0x0112
CHECK_SIDE = 256
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


_FORMAT_SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}


def check_image_bytes(data: bytes, max_pixels: int) -> str:
    """Check uploaded bytes before anything decodes them: a supported image format whose
    width x height (read from the header) is at most ``max_pixels`` — no decompression
    bombs. Returns the file suffix for the format; raises ``InvalidInput`` or
    ``TooLarge``."""
    import io

    from embedspace.errors import TooLarge

    image_module, _ = _pil()
    try:
        with image_module.open(io.BytesIO(data)) as opened:
            kind, (width, height) = opened.format, opened.size
    except (OSError, ValueError, SyntaxError, image_module.DecompressionBombError):
        raise InvalidInput(
            "The upload is not a readable image (JPEG, PNG, WebP, GIF or BMP)."
        ) from None
    if kind not in _FORMAT_SUFFIXES:
        raise InvalidInput(f"Images in {kind} format are not supported; send JPEG or PNG.")
    if width * height > max_pixels:
        raise TooLarge(f"The image is {width}x{height} pixels; the limit is {max_pixels:,} pixels.")
    return _FORMAT_SUFFIXES[kind]


def load_image(path: str | Path, *, min_side: int | None = None) -> Any:
    """Decode an image as RGB: first frame of an animation, EXIF orientation applied,
    transparency composited on white, grayscale and palettes expanded.

    ``min_side`` lets a JPEG be decoded at a reduced scale whose sides stay at least that
    long (much faster when a model needs 224 pixels of a 4,000-pixel photo).
    Raises ``InvalidInput`` naming the file when it cannot be decoded.
    """
    image_module, ops = _pil()
    try:
        with image_module.open(path) as opened:
            opened.seek(0)
            if min_side is not None and opened.format == "JPEG":
                width, height = opened.size
                scale = min(width, height) / min_side
                if scale >= 2:
                    opened.draft("RGB", (int(width / scale) + 1, int(height / scale) + 1))
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


def _displayed_size(file: Path) -> tuple[int, int]:
    """Width and height as shown: swapped when EXIF says the photo is rotated a quarter."""
    image_module, _ = _pil()
    try:
        with image_module.open(file) as opened:
            width, height = opened.size
            orientation = opened.getexif().get(EXIF_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError, image_module.DecompressionBombError) as error:
        raise InvalidInput(f"{file} is not a readable image: {error}") from None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def file_facts(file: Path) -> dict[str, Any]:
    """A file's size in bytes and modification time (UTC, ISO 8601), as metadata."""
    stat = file.stat()
    return {
        "bytes": stat.st_size,
        "modified": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
    }


def image_record(file: Path, root: Path) -> Record | Rejection:
    """One image file as a Record (id: its path relative to ``root``), after decoding it
    once; a Rejection naming the file when it is not a readable, supported image."""
    relative = file.relative_to(root).as_posix()
    if not is_image_path(file):
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        return Rejection(str(file), 0, f"is not a supported image ({suffixes})")
    try:
        # Decoding at a reduced scale still reads every byte (truncation is caught) and is
        # several times faster on big JPEGs; the size recorded is the file's own.
        width, height = _displayed_size(file)
        load_image(file, min_side=CHECK_SIDE)
    except InvalidInput as error:
        return Rejection(str(file), 0, str(error).removeprefix(f"{file} "))
    metadata = {
        "path": relative,
        **file_facts(file),
        "width": width,
        "height": height,
        "format": file.suffix.lower().lstrip("."),
    }
    return Record(id=relative, content=str(file.resolve()), metadata=metadata, modality="image")
