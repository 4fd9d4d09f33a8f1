"""Training data for the encoder trainers: labelled images (a folder of class folders, or
a table of image and label, or of two images showing the same thing) and text pairs (a
table of query and positive[, negative], or of sentence and label)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from embedspace.errors import InvalidInput
from embedspace.io.folder_items import walk
from embedspace.io.images import IMAGE_SUFFIXES
from embedspace.io.readers import read_rows

QUERY_COLUMNS = ("query", "anchor", "question")
POSITIVE_COLUMNS = ("positive", "answer")
SENTENCE_COLUMNS = ("sentence", "text")
TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".jsonl", ".json", ".parquet"})


@dataclass(frozen=True)
class TextExamples:
    """Rows of a text-pair table: ``anchors`` with ``positives`` (and ``negatives``), or,
    when the table has a label column, ``anchors`` (the sentences) with ``labels``."""

    anchors: list[str]
    positives: list[str] | None = None
    negatives: list[str | None] | None = None
    labels: list[str] | None = None


def read_text_examples(path: str | Path) -> TextExamples:
    """The pairs in ``path`` (CSV/TSV/JSONL/JSON/Parquet): columns query (or anchor or
    question) and positive (or answer), optionally negative; or sentence (or text) and
    label. Empty texts are refused with their row number."""
    file = Path(path)
    rows = list(read_rows(file))
    if not rows:
        raise InvalidInput(f"{file} holds no rows.")
    names = set(rows[0][1])
    query = next((c for c in QUERY_COLUMNS if c in names), None)
    positive = next((c for c in POSITIVE_COLUMNS if c in names), None)
    sentence = next((c for c in SENTENCE_COLUMNS if c in names), None)
    if query and positive:
        anchors, positives, negatives = [], [], []
        for number, row in rows:
            anchors.append(_text(row.get(query), file, number, query))
            positives.append(_text(row.get(positive), file, number, positive))
            negative = row.get("negative")
            negatives.append(str(negative).strip() if negative and str(negative).strip() else None)
        return TextExamples(anchors, positives, negatives)
    if sentence and "label" in names:
        texts, labels = [], []
        for number, row in rows:
            texts.append(_text(row.get(sentence), file, number, sentence))
            labels.append(_text(row.get("label"), file, number, "label"))
        return TextExamples(texts, labels=labels)
    raise InvalidInput(
        f"{file} has columns {', '.join(sorted(names))}: give query and positive columns "
        "(optionally negative), or sentence and label columns."
    )


def _text(value: object, file: Path, number: int, column: str) -> str:
    if value is None or not str(value).strip():
        raise InvalidInput(f"{file}, row {number}: the '{column}' value is empty.")
    return str(value).strip()


def read_labelled_images(path: str | Path) -> tuple[list[str], list[str]]:
    """Image paths and their labels from a folder of class folders (``shoes/``,
    ``boots/``…, images found recursively in each), or from a table beside the images with
    columns image and label, or image and same (another image of the same product: each
    connected set of images becomes one label). Paths in a table are relative to it."""
    source = Path(path)
    if source.is_dir():
        return _class_folders(source)
    if source.is_file() and source.suffix.lower() in TABLE_SUFFIXES:
        return _image_table(source)
    raise InvalidInput(
        f"No folder or table at {source}: give a folder with one sub-folder of images per "
        "class, or a CSV/JSONL of image,label (or image,same) rows."
    )


def _class_folders(root: Path) -> tuple[list[str], list[str]]:
    images, labels = [], []
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for folder in classes:
        found = [str(f) for f in walk(folder, IMAGE_SUFFIXES)]
        images += found
        labels += [folder.name] * len(found)
    loose = [f for f in root.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise InvalidInput(
            f"{root} has no class folders with images in them"
            + (f" ({len(loose)} images lie loose in it)" if loose else "")
            + ": put each class's images in a sub-folder named after it."
        )
    return images, labels


def _image_table(file: Path) -> tuple[list[str], list[str]]:
    rows = list(read_rows(file))
    if not rows or "image" not in rows[0][1] or not {"label", "same"} & set(rows[0][1]):
        raise InvalidInput(f"{file} needs columns image and label (or image and same).")
    pairs = "label" not in rows[0][1]
    links: list[tuple[str, str]] = []
    images, labels = [], []
    for number, row in rows:
        names = [_text(row.get("image"), file, number, "image")]
        if pairs:
            names.append(_text(row.get("same"), file, number, "same"))
        for name in names:
            image = file.parent / name
            if not image.is_file():
                raise InvalidInput(f"{file}, row {number}: image {image} does not exist.")
        if pairs:
            links.append((names[0], names[1]))
        else:
            images.append(str(file.parent / names[0]))
            labels.append(_text(row.get("label"), file, number, "label"))
    if pairs:
        root_of = connected(links)
        for name in sorted({name for link in links for name in link}):
            images.append(str(file.parent / name))
            labels.append(root_of(name))
    return images, labels


def connected(links: Iterable[tuple[str, str]]) -> Callable[[str], str]:
    """``root(name)``: one name per set of names connected by ``links`` (union-find), so
    that photos of one product, or questions sharing an answer, get one label."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for first, second in links:
        parent[root(first)] = root(second)
    return root
