"""Embed items and score how alike they are (cosine, dot or euclidean)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from embedspace.encoders import METRICS, Encoder
from embedspace.encoders import get as get_encoder
from embedspace.errors import DimensionMismatch, InvalidInput
from embedspace.store.exact import scores
from embedspace.store.validate import check_vectors, vector_rows

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


def _as_matrix(items: Items, encoder: str | Encoder | None, metric: str) -> np.ndarray:
    """Items as ``(n, dim)`` float32: an array checked (numbers, finite, 1-d or 2-d, no
    all-zero vector for cosine), or texts embedded."""
    if not isinstance(items, np.ndarray):
        return embed(items, encoder)
    matrix = vector_rows(items, "the vectors to compare")
    matrix = matrix.reshape(1, -1) if matrix.ndim == 1 else matrix
    if matrix.ndim != 2 or not matrix.shape[1]:
        raise InvalidInput(
            f"Give vectors as one vector or an (n, dim) array, not shape {items.shape}."
        )
    check_vectors(matrix, matrix.shape[1], metric, "the vectors to compare")
    return matrix


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (by their largest value first, so that values near
    float32's limit do not overflow the norm); all-zero rows stay zero."""
    if not vectors.size:
        return vectors
    peak = np.abs(vectors).max(axis=1, keepdims=True)
    scaled: np.ndarray = vectors / np.where(peak > 0, peak, 1.0)
    unit: np.ndarray = scaled / np.maximum(np.linalg.norm(scaled, axis=1, keepdims=True), 1e-12)
    return unit


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
    left = _as_matrix(a, encoder, metric)
    right = left if b is None else _as_matrix(b, encoder, metric)
    if left.shape[1] != right.shape[1]:
        raise DimensionMismatch(
            f"Cannot compare {left.shape[1]}-d with {right.shape[1]}-d vectors; "
            "embed both sides with the same encoder."
        )
    if metric == "cosine":
        left, right = _unit(left), _unit(right)
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
    left = [a] if isinstance(a, str) else _one_vector(a, "a")
    right = [b] if isinstance(b, str) else _one_vector(b, "b")
    return float(similarity_matrix(left, right, metric=metric, encoder=encoder)[0, 0])


def _one_vector(value: object, name: str) -> np.ndarray:
    """One vector given to ``similarity``, as ``(1, dim)`` float32 (checked numbers)."""
    vector = vector_rows(value, f"the vector {name}")
    if vector.ndim != 1 and not (vector.ndim == 2 and len(vector) == 1):
        raise InvalidInput(
            f"similarity compares two items: give {name} as a text or one vector, not shape "
            f"{vector.shape} (for many, use similarity_matrix)."
        )
    return vector.reshape(1, -1)
