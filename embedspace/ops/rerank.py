"""Reranking: a cross-encoder re-orders the first results of a search.

``search`` finds ``top`` candidates with the space's own search (dense, keyword or hybrid,
filters included), scores each (query, content) pair with the cross-encoder, and returns
the best ``k`` by that score (the cross-encoder's logit becomes the match's score). Without
a cross-encoder it is ``Space.search``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from embedspace.encoders.cross_encoder import CrossEncoder
from embedspace.errors import InvalidInput
from embedspace.store import Match, Space

#: Candidates the cross-encoder reads, unless told otherwise.
DEFAULT_TOP = 50


def rerank(query: str, matches: list[Match], model: CrossEncoder, k: int) -> list[Match]:
    """``matches`` re-ordered by ``model``'s score for (``query``, content), best ``k``."""
    scores = model.score(query, [m.content for m in matches])
    order = sorted(range(len(matches)), key=lambda i: -float(scores[i]))[:k]
    return [
        Match(matches[i].id, float(scores[i]), matches[i].content, matches[i].metadata)
        for i in order
    ]


def search(
    space: Space,
    query: str,
    k: int = 10,
    *,
    rerank_with: str | Path | CrossEncoder | None = None,
    top: int = DEFAULT_TOP,
    where: Mapping[str, Any] | None = None,
    exact: bool = False,
    mode: str = "dense",
    alpha: float | None = None,
    passages: bool = False,
) -> list[Match]:
    """``space.search(query, ...)``, then (with ``rerank_with``, a cross-encoder or its
    folder) the ``top`` first results re-ordered by the cross-encoder."""
    if rerank_with is None:
        return space.search(
            query, k, where=where, exact=exact, mode=mode, alpha=alpha, passages=passages
        )
    if not isinstance(query, str):
        raise InvalidInput("Reranking reads the query's text: give a text query, not a vector.")
    if top < k:
        raise InvalidInput(f"--rerank-top ({top}) must be at least k ({k}).")
    model = rerank_with if isinstance(rerank_with, CrossEncoder) else CrossEncoder(rerank_with)
    model.check()
    found = space.search(
        query, top, where=where, exact=exact, mode=mode, alpha=alpha, passages=passages
    )
    return rerank(query, found, model, k)
