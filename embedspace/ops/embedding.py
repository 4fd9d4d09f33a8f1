"""Embedding many items in steps, reporting progress after each (the encoders batch and
order by length within a call; this orders by length across the whole input first, so
steps cost what one call would)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embedspace.encoders import Encoder
from embedspace.encoders import get as get_encoder
from embedspace.progress import ProgressCallback, report

#: Items per step (one progress report each).
STEP = 512


def embed_texts(
    texts: Sequence[str],
    encoder: str | Encoder,
    *,
    on_progress: ProgressCallback | None = None,
    step: int = STEP,
) -> np.ndarray:
    """Embed ``texts`` with ``encoder``: float32 ``(len(texts), dim)`` in input order,
    reporting ``("Embedding with NAME", done, total)`` after every ``step`` texts."""
    chosen = get_encoder(encoder)
    items = list(texts)
    if len(items) <= step:
        vectors = chosen.encode(items)
        report(on_progress, f"Embedding with {chosen.name}", len(items), len(items))
        return vectors
    order = np.argsort(np.fromiter((len(t) for t in items), np.int64, len(items)), kind="stable")
    out = np.empty((len(items), chosen.dim), dtype=np.float32)
    stage = f"Embedding with {chosen.name}"
    report(on_progress, stage, 0, len(items))
    for start in range(0, len(items), step):
        positions = order[start : start + step]
        out[positions] = chosen.encode([items[i] for i in positions])
        report(on_progress, stage, min(start + step, len(items)), len(items))
    return out
