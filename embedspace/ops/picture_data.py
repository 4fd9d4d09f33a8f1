"""The data behind the pictures, computed once for every face: a map of a space (its items
projected to 2 or 3 dimensions, sampled when there are many) and the similarity of every
pair of sentences. ``render/`` draws them to files; the web page draws them in the browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embedspace.encoders import Encoder
from embedspace.errors import InvalidInput
from embedspace.ops.projection import project
from embedspace.ops.similarity import similarity_matrix
from embedspace.store.items import Snapshot

#: Most sentences a heatmap holds (more would be unreadable).
MOST_SENTENCES = 60
#: What a map's hover text keeps of an item's content.
HOVER_CHARACTERS = 200


@dataclass(frozen=True)
class SpaceMap:
    """Items of a space placed in 2 or 3 dimensions.

    ``coordinates`` is float32 ``(len(ids), dims)``; ``texts`` the contents on one line,
    clipped for hovering; ``colours`` each item's value of the colour field (``"(none)"``
    where it has none), or None without a colour field; ``fields`` the metadata fields the
    shown items have; ``total`` how many items there were before sampling.
    """

    ids: list[str]
    coordinates: np.ndarray
    texts: list[str]
    colours: list[str] | None
    fields: list[str]
    total: int
    method: str
    dims: int

    @property
    def sampled(self) -> bool:
        """Whether only a random sample of the items is shown."""
        return len(self.ids) < self.total


def map_snapshot(
    snapshot: Snapshot,
    *,
    name: str,
    dims: int = 2,
    method: str = "pca",
    colour: str | None = None,
    limit: int = 20_000,
    seed: int = 0,
) -> SpaceMap:
    """The items of ``snapshot`` (a random sample of at most ``limit``, the same for the
    same ``seed``) projected to ``dims`` dimensions with ``method`` (``pca``, ``tsne`` or
    ``umap``), coloured by the metadata field ``colour``. ``name`` is the space's name, for
    messages. Raises ``InvalidInput`` for fewer than two items, a ``limit`` under 2, or a
    colour field no shown item has (listing the fields there are)."""
    if limit < 2:
        raise InvalidInput(f"A map shows at least 2 items; limit is {limit}.")
    if len(snapshot) < 2:
        raise InvalidInput(f"'{name}' has fewer than two items to draw.")
    rows = np.arange(len(snapshot))
    if len(rows) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))
    fields = sorted({key for i in rows for key in snapshot.metadata[i]})
    if colour and colour not in fields:
        listed = ", ".join(fields[:30]) or "none"
        raise InvalidInput(f"No item has a metadata field '{colour}'; fields: {listed}.")
    coordinates = project(snapshot.vectors[rows], dims, method, seed)
    texts = [" ".join(snapshot.contents[i].split())[:HOVER_CHARACTERS] for i in rows]
    colours = [str(snapshot.metadata[i].get(colour, "(none)")) for i in rows] if colour else None
    return SpaceMap(
        [snapshot.ids[i] for i in rows],
        coordinates,
        texts,
        colours,
        fields,
        len(snapshot),
        method,
        dims,
    )


def sentence_similarities(sentences: Sequence[str], encoder: str | Encoder) -> np.ndarray:
    """Cosine similarity of every pair of ``sentences`` (2 to ``MOST_SENTENCES``) embedded
    with ``encoder``: float32 ``(n, n)``."""
    texts = list(sentences)
    if len(texts) < 2:
        raise InvalidInput("Give at least two sentences to compare.")
    if len(texts) > MOST_SENTENCES:
        raise InvalidInput(
            f"{len(texts)} sentences would be unreadable; a heatmap holds up to "
            f"{MOST_SENTENCES}. A map of a space shows more."
        )
    return np.asarray(similarity_matrix(texts, texts, encoder=encoder), dtype=np.float32)
