"""Zero-shot classification: each item gets the label whose embedded text fits it best.

Works on any vectors whose encoder can also embed text: a text space (labels and items
are both texts), or images with a text-and-image encoder (imagenet-bridge, an alignment
model, CLIP). A label is phrased with the encoder's ``label_template`` ("a photo of a {}"
for CLIP, the bare label otherwise) unless a template is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders import Encoder
from embedspace.encoders import get as get_encoder
from embedspace.errors import InvalidInput
from embedspace.io import Record, Rejection
from embedspace.ops.neighbours import unit
from embedspace.progress import ProgressCallback, report
from embedspace.store.space import Space


@dataclass(frozen=True, slots=True)
class Classification:
    """One item's best label and its cosine similarity to the label's text."""

    id: str
    label: str
    score: float


def parse_labels(labels: str | Sequence[str]) -> list[str]:
    """Labels from a list or a comma-separated string; at least two, no blanks, no repeats."""
    items = labels.split(",") if isinstance(labels, str) else list(labels)
    cleaned = [str(label).strip() for label in items]
    if any(not label for label in cleaned):
        raise InvalidInput("A label is empty; give labels like 'sneaker,sandal,bag'.")
    if len(cleaned) < 2:
        raise InvalidInput("Give at least two labels to choose between, e.g. 'cat,dog'.")
    repeated = sorted({label for label in cleaned if cleaned.count(label) > 1})
    if repeated:
        raise InvalidInput(f"Labels repeat: {', '.join(repeated)}.")
    return cleaned


def zero_shot(vectors: np.ndarray, label_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``vectors``, the index of the most similar label vector (cosine) and
    that similarity."""
    if vectors.ndim != 2 or label_vectors.ndim != 2 or vectors.shape[1] != label_vectors.shape[1]:
        raise InvalidInput(
            f"Cannot compare vectors of shape {vectors.shape} with labels of shape "
            f"{label_vectors.shape}: they must come from the same encoder."
        )
    scores = unit(vectors) @ unit(label_vectors).T
    best = np.argmax(scores, axis=1)
    return best, scores[np.arange(len(best)), best]


def _label_vectors(encoder: Encoder, labels: list[str], template: str) -> np.ndarray:
    if "text" not in encoder.modalities:
        raise InvalidInput(
            f"Encoder '{encoder.name}' cannot embed label texts. Classify with a "
            "text-and-image encoder (imagenet-bridge, an alignment model, or CLIP)."
        )
    if "{}" not in template:
        raise InvalidInput("The template must contain {} where the label goes.")
    return encoder.encode_query([template.format(label) for label in labels])


def _results(
    ids: Sequence[str], best: np.ndarray, scores: np.ndarray, labels: list[str]
) -> list[Classification]:
    return [
        Classification(id, labels[int(b)], round(float(s), 6))
        for id, b, s in zip(ids, best, scores, strict=True)
    ]


def classify_space(
    space: Space, labels: str | Sequence[str], *, template: str | None = None
) -> list[Classification]:
    """Label every item of ``space`` with its best-fitting label (zero-shot)."""
    names = parse_labels(labels)
    encoder = space.encoder
    label_vectors = _label_vectors(encoder, names, template or encoder.label_template)
    space.check_queries()  # the labels are compared with the stored vectors
    snapshot = space.snapshot()  # ids and vectors in one consistent read
    if not snapshot.ids:
        return []
    best, scores = zero_shot(snapshot.vectors, label_vectors)
    return _results(snapshot.ids, best, scores, names)


def classify_images(
    images: Sequence[str | Path],
    labels: str | Sequence[str],
    *,
    encoder: str | Encoder = "imagenet-bridge",
    template: str | None = None,
    ids: Sequence[str] | None = None,
    progress: bool = False,
) -> list[Classification]:
    """Label image files with their best-fitting label (zero-shot); ids default to paths."""
    names = parse_labels(labels)
    chosen = get_encoder(encoder)
    label_vectors = _label_vectors(chosen, names, template or chosen.label_template)
    paths = list(images)
    item_ids = [str(p) for p in paths] if ids is None else list(ids)
    if len(item_ids) != len(paths):
        raise InvalidInput(f"{len(item_ids)} ids for {len(paths)} images.")
    if not paths:
        return []
    best, scores = zero_shot(chosen.encode_images(paths, progress=progress), label_vectors)
    return _results(item_ids, best, scores, names)


def few_shot(
    space: Space,
    texts: Sequence[Any],
    labels: Sequence[str],
    *,
    seed: int = 0,
) -> list[Classification]:
    """Label every item of ``space`` with a classifier trained on a handful of labelled
    examples (texts, or what the space's encoder takes: image or sound files as ``Path``;
    logistic regression on their embeddings); the score is its probability."""
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        from embedspace.errors import MissingExtra

        raise MissingExtra("Few-shot classification", "words", "scikit-learn") from None
    if len(texts) != len(labels) or not texts:
        raise InvalidInput(f"{len(texts)} examples but {len(labels)} labels; give both, paired.")
    names = sorted(set(labels))
    if len(names) < 2:
        raise InvalidInput("The examples need at least two different labels.")
    encoder = space.encoder
    model = LogisticRegression(max_iter=2000, C=10.0, random_state=seed)
    model.fit(unit(encoder.encode_document(list(texts))), list(labels))
    snapshot = space.snapshot()
    ids = snapshot.ids
    if not ids:
        return []
    probabilities = model.predict_proba(unit(snapshot.vectors))
    best = np.argmax(probabilities, axis=1)
    classes = [str(c) for c in model.classes_]
    return [
        Classification(id, classes[int(b)], round(float(p[b]), 6))
        for id, b, p in zip(ids, best, probabilities, strict=True)
    ]


def example_items(values: Sequence[str], encoder: Encoder, folder: Path) -> list[Any]:
    """Labelled examples as ``encoder`` takes them: texts as they are, or for an encoder of
    images or sounds only, the files they name (relative to ``folder``, the table's)."""
    if "text" in encoder.modalities:
        return list(values)
    files = [Path(v) if Path(v).is_absolute() else folder / v for v in values]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise InvalidInput(
            f"Encoder '{encoder.name}' embeds {' and '.join(sorted(encoder.modalities))}, so "
            f"the examples name files; not found: {', '.join(missing[:3])}. Give paths "
            "relative to the table's folder, or absolute ones."
        )
    return files


def classify_target(
    target: str,
    *,
    labels: str | Sequence[str] | None = None,
    examples: Path | None = None,
    text_field: str = "text",
    label_field: str = "label",
    encoder: str | Encoder = "imagenet-bridge",
    template: str | None = None,
    on_skipped: Callable[[Rejection], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[Classification]:
    """Label the items of ``target``, a space (name or path) or a folder of images.

    Zero-shot with ``labels``: a space uses its own encoder, a folder ``encoder``
    (unreadable images are passed to ``on_skipped`` and left out). Few-shot with
    ``examples``, a table of labelled texts (``text_field``, ``label_field``; in a space of
    an image or sound encoder, the files of the examples), on a space only. Exactly one of
    ``labels`` and ``examples``.
    """
    if examples is not None and labels is None:
        from embedspace.io.labelled import read_labelled_texts

        if not Space.exists(target):
            raise InvalidInput(f"Few-shot classification works on a space; '{target}' is not one.")
        texts, names = read_labelled_texts(examples, text_field, label_field)
        with Space.open(target) as space:
            report(on_progress, f"Training on {len(texts)} examples", 0, None)
            items = example_items(texts, space.encoder, examples.parent)
            return few_shot(space, items, names)
    if labels is None or examples is not None:
        raise InvalidInput("Give --labels (zero-shot) or --train FILE (few-shot), one of the two.")
    if Space.exists(target):
        with Space.open(target) as space:
            report(on_progress, f"Classifying the items of {space.name}", 0, None)
            return classify_space(space, labels, template=template)
    if Path(target).is_dir():
        return _classify_folder(Path(target), labels, encoder, template, on_skipped, on_progress)
    raise InvalidInput(
        f"'{target}' is neither a space nor a folder of images. "
        "See 'embedspace spaces' for the spaces there are."
    )


def _classify_folder(
    folder: Path,
    labels: str | Sequence[str],
    encoder: str | Encoder,
    template: str | None,
    on_skipped: Callable[[Rejection], None] | None,
    on_progress: ProgressCallback | None,
) -> list[Classification]:
    from embedspace.io import read_image_records

    records: list[Record] = []
    skipped = []
    report(on_progress, f"Reading {folder}", 0, None)
    for item in read_image_records(folder):
        if isinstance(item, Record):
            records.append(item)
        else:
            skipped.append(item)
    for item in skipped:
        if on_skipped is not None:
            on_skipped(item)
    if not records:
        raise InvalidInput(f"No readable images in {folder}.")
    report(on_progress, f"Classifying {len(records):,} images", 0, None)
    return classify_images(
        [r.content for r in records],
        labels,
        encoder=encoder,
        template=template,
        ids=[r.id for r in records],
    )
