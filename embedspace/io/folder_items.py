"""A folder as items: its images and its text files, found recursively.

Every image is decoded once while reading, and every text file decoded, so a corrupt,
binary or empty file becomes a Rejection naming its path before anything is embedded.
Ids are paths relative to the folder named (POSIX separators); hidden files and folders
are skipped, and files of other kinds are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from embedspace.config import cpu_count
from embedspace.io.images import IMAGE_SUFFIXES, image_record, is_image_path
from embedspace.io.readers import Rejection, read_text_file
from embedspace.io.records import Record

#: Files read whole, as one text item each, when they are found in a folder.
TEXT_FILE_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown"})


def read_folder(path: str | Path, *, text_files: bool = True) -> Iterator[Record | Rejection]:
    """Yield a Record (or a Rejection) per image and, unless ``text_files`` is false, per
    text file (``.txt``, ``.text``, ``.md``, ``.markdown``) under the folder ``path``, in
    sorted path order."""
    root = Path(path)
    files = list(walk(root, IMAGE_SUFFIXES | (TEXT_FILE_SUFFIXES if text_files else set())))

    def read(file: Path) -> Record | Rejection:
        return image_record(file, root) if is_image_path(file) else read_text_file(file, root)

    # Checking an image means decoding it; Pillow releases the GIL while decoding, so
    # threads check several at once. map() keeps the folder order.
    with ThreadPoolExecutor(max_workers=max(1, cpu_count())) as pool:
        yield from pool.map(read, files)


def walk(root: Path, suffixes: frozenset[str] | set[str]) -> Iterator[Path]:
    """Files under ``root`` with one of ``suffixes`` (any case), hidden ones skipped,
    sorted within each folder."""
    for folder, folders, names in os.walk(root):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                yield Path(folder) / name
