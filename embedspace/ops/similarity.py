"""Embed items and score how alike they are (cosine, dot or euclidean)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from embedspace.encoders import METRICS, Encoder
from embedspace.encoders import get as get_encoder
from embedspace.errors import DimensionMismatch, InvalidInput
from embedspace.store.exact import scores

Items = Sequence[str] | np.ndarray


@lru_cache(maxsize=8)
def _named_encoder(name: str) -> Encoder:
    # One loaded model per name per process, so repeated embed() calls don't reload weights.
    return get_encoder(name)


def _encoder(encoder: str | Encoder | None) -> Encoder:
    if isinstance(encoder, Encoder):
        return encoder
    return _named_encoder(encoder or "minilm-l6")


def embed(
    items: Sequence[str], encoder: str | Encoder | None = None, *, progress: bool = False
) -> np.ndarray:
    """Embed texts with ``encoder`` (default ``minilm-l6``): float32 ``(len(items), dim)``."""
    return _encoder(encoder).encode(items, progress=progress)


def _as_matrix(items: Items, encoder: str | Encoder | None) -> np.ndarray:
    if isinstance(items, np.ndarray):
        matrix = np.asarray(items, dtype=np.float32)
        return matrix.reshape(1, -1) if matrix.ndim == 1 else matrix
    return embed(items, encoder)


def similarity_matrix(
    a: Items,
    b: Items | None = None,
    *,
    metric: str = "cosine",
    encoder: str | Encoder | None = None,
) -> np.ndarray:
    """Scores between every item of ``a`` and every item of ``b`` (default: ``a`` itself).

    Items are texts (embedded with ``encoder``) or an ``(n, dim)`` array. Returns
    ``(len(a), len(b))`` float32 scores, higher is more similar for every metric: cosine
    similarity, dot product, or minus the euclidean distance (as ``similarity``).
    """
    if metric not in METRICS:
        raise InvalidInput(f"Unknown metric '{metric}'. Choose one of: {', '.join(METRICS)}.")
    left = _as_matrix(a, encoder)
    right = left if b is None else _as_matrix(b, encoder)
    if left.shape[1] != right.shape[1]:
        raise DimensionMismatch(
            f"Cannot compare {left.shape[1]}-d with {right.shape[1]}-d vectors; "
            "embed both sides with the same encoder."
        )
    if metric == "cosine":
        left = left / np.maximum(np.linalg.norm(left, axis=1, keepdims=True), 1e-12)
        right = right / np.maximum(np.linalg.norm(right, axis=1, keepdims=True), 1e-12)
    return scores(right, left, metric).astype(np.float32)


def similarity(
    a: str | np.ndarray,
    b: str | np.ndarray,
    *,
    metric: str = "cosine",
    encoder: str | Encoder | None = None,
) -> float:
    """How alike two items are (two texts, or two vectors), as one score.

    Higher is more similar for every metric, the same convention as ``Match.score`` and
    the CLI: ``cosine`` gives the cosine similarity (1 = same direction), ``dot`` the dot
    product, ``euclidean`` minus the distance (0 = identical; -0.68 means 0.68 apart).
    """
    left = [a] if isinstance(a, str) else np.asarray(a, dtype=np.float32).reshape(1, -1)
    right = [b] if isinstance(b, str) else np.asarray(b, dtype=np.float32).reshape(1, -1)
    return float(similarity_matrix(left, right, metric=metric, encoder=encoder)[0, 0])
