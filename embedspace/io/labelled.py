"""Tables of labelled examples (CSV/JSONL/JSON/Parquet, read by ``read_rows``): duplicate
pairs, texts with a label, and captioned images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embedspace.errors import InvalidInput
from embedspace.io.readers import read_rows

_YES = ("1", "true", "yes", "y")


def read_labelled_pairs(path: Path) -> list[tuple[str, str, bool]]:
    """``(first, second, is_duplicate)`` from a table with columns first, second and
    duplicate (1/0, true/false, yes/no)."""
    pairs = []
    for number, row in read_rows(path):
        try:
            flag = str(row["duplicate"]).strip().lower()
            pairs.append((str(row["first"]), str(row["second"]), flag in _YES))
        except KeyError:
            raise InvalidInput(
                f"{path}, row {number}: needs columns first, second, duplicate."
            ) from None
    if not pairs:
        raise InvalidInput(f"{path} holds no labelled pairs.")
    return pairs


def read_labelled_texts(
    path: Path, text_field: str, label_field: str
) -> tuple[list[str], list[str]]:
    """The texts and their labels from the columns ``text_field`` and ``label_field``."""
    texts, names = [], []
    for number, row in read_rows(path):
        text, label = row.get(text_field), row.get(label_field)
        if not isinstance(text, str) or not text.strip() or label is None or not str(label).strip():
            raise InvalidInput(
                f"{path}, row {number}: needs a '{text_field}' and a '{label_field}' value "
                "(name other columns with --text-field/--label-field)."
            )
        texts.append(text.strip())
        names.append(str(label).strip())
    return texts, names


def read_captioned_images(
    file: Path, root: Path, image_field: str, caption_field: str
) -> tuple[list[str], list[str]]:
    """Image paths (under the folder ``root``) and their captions, from the columns
    ``image_field`` and ``caption_field``; every image must exist."""
    if not root.is_dir():
        raise InvalidInput(f"No folder at {root}; --images names the folder of the images.")
    images: list[str] = []
    captions: list[str] = []
    for number, row in read_rows(file):
        relative, caption = row.get(image_field), row.get(caption_field)
        if not relative or not isinstance(caption, str) or not caption.strip():
            raise InvalidInput(
                f"{file}, row {number}: needs an '{image_field}' and a '{caption_field}' value "
                "(name other columns with --image-field/--caption-field)."
            )
        path = root / str(relative)
        if not path.is_file():
            raise InvalidInput(f"{file}, row {number}: image {path} does not exist.")
        images.append(str(path))
        captions.append(caption.strip())
    if not images:
        raise InvalidInput(f"{file} holds no pairs.")
    return images, captions


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a table; at least one."""
    rows = [row for _, row in read_rows(Path(path))]
    if not rows:
        raise InvalidInput(f"{path} holds no rows.")
    return rows
