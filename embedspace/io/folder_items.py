"""A folder as items: its images and its text files, found recursively.

Every image is decoded once while reading, and every text file decoded, so a corrupt,
binary or empty file becomes a Rejection naming its path before anything is embedded.
Ids are paths relative to the folder named (POSIX separators); hidden files and folders
are skipped, and files of other kinds are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from embedspace.config import cpu_count
from embedspace.errors import InvalidInput, MissingExtra
from embedspace.io.audio import AUDIO_SUFFIXES, audio_record, is_audio_path
from embedspace.io.documents import DOCUMENT_SUFFIXES, read_document
from embedspace.io.images import IMAGE_SUFFIXES, image_record, is_image_path
from embedspace.io.readers import read_text_file
from embedspace.io.records import Record, Rejection

#: Files read whole, as one text item each, when they are found in a folder.
TEXT_FILE_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown"})


def read_folder(
    path: str | Path, *, text_files: bool = True, sounds: bool = True
) -> Iterator[Record | Rejection]:
    """Yield a Record (or a Rejection) per image, per sound file (``io/audio.py``) and,
    unless ``text_files`` (``sounds``) is false, per text file (``.txt``, ``.text``, ``.md``,
    ``.markdown``), HTML page and PDF page (``io/documents.py``) under the folder ``path``,
    in sorted path order."""
    root = Path(path)
    texts = TEXT_FILE_SUFFIXES | DOCUMENT_SUFFIXES if text_files else frozenset()
    audio = AUDIO_SUFFIXES if sounds else frozenset()
    files = list(walk(root, IMAGE_SUFFIXES | audio | texts))

    def read(file: Path) -> list[Record | Rejection]:
        if is_image_path(file):
            return [image_record(file, root)]
        if is_audio_path(file):
            try:
                return [audio_record(file, root)]
            except MissingExtra as error:  # a stray song must not stop a folder of photos
                return [Rejection(str(file), 0, f"was skipped: {error}")]
        if file.suffix.lower() in DOCUMENT_SUFFIXES:
            try:
                return read_document(file, root)
            except MissingExtra as error:  # a stray PDF must not stop a folder of notes
                return [Rejection(str(file), 0, f"was skipped: {error}")]
        return [read_text_file(file, root)]

    # Checking an image (a sound) means decoding it; Pillow (libsndfile) releases the GIL
    # while decoding, so threads check several at once. map() keeps the folder order.
    with ThreadPoolExecutor(max_workers=max(1, cpu_count())) as pool:
        for items in pool.map(read, files):
            yield from items


def walk(root: Path, suffixes: frozenset[str] | set[str]) -> Iterator[Path]:
    """Files under ``root`` with one of ``suffixes`` (any case), hidden ones skipped,
    sorted within each folder."""
    for folder, folders, names in os.walk(root):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                yield Path(folder) / name


def read_image_records(path: str | Path) -> Iterator[Record | Rejection]:
    """Yield a Record (or a Rejection) per image in a file or, recursively, a folder.

    Hidden files and folders are skipped; files with other suffixes in a folder are
    ignored; a named file that is not a supported image is a Rejection.
    """
    yield from _file_or_folder(
        path, image_record, lambda root: read_folder(root, text_files=False, sounds=False)
    )


def read_audio_records(path: str | Path) -> Iterator[Record | Rejection]:
    """Yield a Record (or a Rejection naming the file and what is wrong) per sound file in a
    file or, recursively, a folder (WAV, FLAC, OGG/Opus, MP3; ``io/audio.py``); ids are paths
    relative to the folder. ``space.upsert`` takes the Records."""
    yield from _file_or_folder(
        path,
        audio_record,
        lambda root: (audio_record(file, root) for file in walk(root, AUDIO_SUFFIXES)),
    )


def _file_or_folder(
    path: str | Path,
    read_file: Callable[[Path, Path], Record | Rejection],
    read_files: Callable[[Path], Iterable[Record | Rejection]],
) -> Iterator[Record | Rejection]:
    """``read_file(file, its folder)`` for a file, ``read_files(folder)`` for a folder;
    ``InvalidInput`` when nothing is there."""
    root = Path(path)
    if not root.exists():
        raise InvalidInput(f"Not found: {root}. Check the path.")
    if root.is_file():
        yield read_file(root, root.parent)
        return
    yield from read_files(root)


def image_records(
    path: str | Path | Sequence[str | Path],
) -> tuple[list[Record], list[Rejection]]:
    """The images in a folder (recursively), a file, or a list of files, as Records with
    ids relative to the folder named; corrupt or non-image files and repeated ids come back
    as Rejections."""
    paths = [path] if isinstance(path, str | Path) else list(path)
    records: dict[str, Record] = {}
    rejected: list[Rejection] = []
    for each in paths:
        for item in read_image_records(each):
            if isinstance(item, Rejection):
                rejected.append(item)
            elif item.id in records:
                rejected.append(Rejection(item.content, 0, f"repeats id '{item.id}'"))
            else:
                records[item.id] = item
    return list(records.values()), rejected
