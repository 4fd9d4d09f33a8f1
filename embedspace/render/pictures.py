"""The pictures the faces offer: a similarity heatmap of sentences, a map of a space and
a map of words, each checked before any work and written atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.errors import InvalidInput
from embedspace.ops.items import snapshot_matching
from embedspace.ops.picture_data import map_snapshot, sentence_similarities
from embedspace.ops.stages import counted
from embedspace.progress import ProgressCallback, report
from embedspace.render.plots import check_output, heatmap, points, scatter


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

    check_output(path)
    texts = list(sentences)
    if file:
        texts += [
            r.content for r in read_records(file, text_fields=text_fields) if isinstance(r, Record)
        ]
    if len(texts) < 2:
        raise InvalidInput("Give at least two sentences (as arguments or with --file).")
    report(on_progress, f"Embedding {counted(len(texts), 'sentence')}", 0, None)
    matrix = sentence_similarities(texts, encoder)
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
    from embedspace.store import Space

    check_output(path)
    with Space.open(space) as opened:
        snapshot = snapshot_matching(opened, where)
    shown = min(len(snapshot), limit)
    report(on_progress, f"Projecting {counted(shown, 'item')} with {method.upper()}", 0, None)
    mapped = map_snapshot(
        snapshot, name=str(space), dims=dims, method=method, colour=colour, limit=limit, seed=seed
    )
    hover = [f"{i}: {text[:120]}" for i, text in zip(mapped.ids, mapped.texts, strict=True)]
    title = f"{opened.name}: {len(mapped.ids)} of {mapped.total} items, {method.upper()} {dims}D"
    points(mapped.coordinates, hover, mapped.colours, path, title=title, colour_name=colour or "")
    return Picture(path, title, len(mapped.ids))


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
