"""The pictures the faces offer: a similarity heatmap of sentences, a map of a space and
a map of words, each checked before any work and written atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.errors import InvalidInput
from embedspace.ops.stages import counted
from embedspace.progress import ProgressCallback, report
from embedspace.render.plots import check_output, heatmap, points, scatter

#: Most sentences a heatmap holds (more would be unreadable).
MOST_SENTENCES = 60


@dataclass(frozen=True)
class Picture:
    """A picture written to ``path``: its ``title`` and how many things it shows."""

    path: Path
    title: str
    count: int


def draw_heatmap(
    sentences: Sequence[str],
    path: Path,
    *,
    file: str | Path | None = None,
    text_fields: Sequence[str] = (),
    encoder: str = "minilm-l6",
    on_progress: ProgressCallback | None = None,
) -> Picture:
    """How similar every pair of ``sentences`` (and of the texts of ``file``) is, as a
    cosine-similarity heatmap written to ``path`` (.png or .html)."""
    from embedspace.io import Record, read_records
    from embedspace.ops import similarity_matrix

    check_output(path)
    texts = list(sentences)
    if file:
        texts += [
            r.content for r in read_records(file, text_fields=text_fields) if isinstance(r, Record)
        ]
    if len(texts) < 2:
        raise InvalidInput("Give at least two sentences (as arguments or with --file).")
    if len(texts) > MOST_SENTENCES:
        raise InvalidInput(
            f"{len(texts)} sentences would be unreadable; a heatmap holds up to "
            f"{MOST_SENTENCES}. Try 'embedspace map'."
        )
    report(on_progress, f"Embedding {counted(len(texts), 'sentence')}", 0, None)
    matrix = similarity_matrix(texts, texts, encoder=encoder)
    title = f"Cosine similarity ({encoder})"
    heatmap(np.asarray(matrix), texts, path, title=title)
    return Picture(path, title, len(texts))


def draw_map(
    space: str | Path,
    path: Path,
    *,
    method: str = "pca",
    dims: int = 2,
    colour: str | None = None,
    limit: int = 20_000,
    where: Mapping[str, Any] | None = None,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> Picture:
    """The items of ``space`` (those matching ``where``; a random sample of at most
    ``limit``) projected to ``dims`` dimensions with ``method`` and drawn to ``path``,
    coloured by the metadata field ``colour``, each with its id and text on hover."""
    from embedspace.ops.projection import project
    from embedspace.store import Space

    check_output(path)
    with Space.open(space) as opened:
        snapshot = opened.snapshot(where)
    if len(snapshot) < 2:
        raise InvalidInput(f"'{space}' has fewer than two items to draw.")
    rows = np.arange(len(snapshot))
    if len(rows) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))
    if colour and all(colour not in snapshot.metadata[i] for i in rows):
        fields = sorted({k for i in rows[:200] for k in snapshot.metadata[i]})
        raise InvalidInput(
            f"No item has a metadata field '{colour}'; fields: {', '.join(fields) or 'none'}."
        )
    report(on_progress, f"Projecting {counted(len(rows), 'item')} with {method.upper()}", 0, None)
    coordinates = project(snapshot.vectors[rows], dims, method, seed)
    hover = [f"{snapshot.ids[i]}: {' '.join(snapshot.contents[i].split())[:120]}" for i in rows]
    colours = [str(snapshot.metadata[i].get(colour, "(none)")) for i in rows] if colour else None
    title = f"{opened.name}: {len(rows)} of {len(snapshot)} items, {method.upper()} {dims}D"
    points(coordinates, hover, colours, path, title=title, colour_name=colour or "")
    return Picture(path, title, len(rows))


def draw_words(
    words: Sequence[str],
    path: Path,
    *,
    model: str = "glove-50",
    dims: int = 3,
    on_progress: ProgressCallback | None = None,
) -> Picture:
    """``words`` as labelled points, projected to ``dims`` dimensions with PCA."""
    from embedspace.ops.projection import pca
    from embedspace.ops.words import load_words

    check_output(path)
    vectors = load_words(model)
    unique = list(dict.fromkeys(words))
    if len(unique) < 2:
        raise InvalidInput("Give at least two different words to draw.")
    report(on_progress, f"Loading {model}", 0, None)
    rows = [vectors.index_of(w) for w in unique]
    coordinates, explained = pca(vectors.vectors[rows], dims)
    title = f"{len(unique)} words, PCA {dims}D ({explained.sum():.0%} of the variance)"
    scatter(coordinates, unique, path, title=title)
    return Picture(path, title, len(unique))
