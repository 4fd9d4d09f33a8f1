"""Embedding many items in steps, reporting progress after each (the encoders batch and
order by length within a call; this orders by length across the whole input first, so
steps cost what one call would)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedspace.encoders import Encoder
from embedspace.encoders import get as get_encoder
from embedspace.progress import ProgressCallback, report

if TYPE_CHECKING:
    from embedspace.io import Record

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


@dataclass(frozen=True)
class EmbeddedItems:
    """Records and their vectors (float32 ``(len(records), dim)``, in the same order)."""

    records: list[Record]
    vectors: np.ndarray


def embed_items(
    texts: Sequence[str],
    files: Sequence[str | Path] = (),
    *,
    text_fields: Sequence[str] = (),
    id_field: str | None = None,
    encoder: str | Encoder = "minilm-l6",
    on_progress: ProgressCallback | None = None,
) -> EmbeddedItems:
    """Embed ``texts`` (ids ``"0"``, ``"1"``, … in order) and the items of ``files``
    (their ``text_fields``, ids from ``id_field``); a row that cannot be read is an error."""
    from embedspace.errors import InvalidInput
    from embedspace.io import Record, read_records

    records = [Record(id=str(i), content=t) for i, t in enumerate(texts)]
    for file in files:
        for item in read_records(file, text_fields=text_fields, id_field=id_field):
            if not isinstance(item, Record):
                raise InvalidInput(f"{item}. Fix the row first.")
            records.append(item)
    if not records:
        raise InvalidInput("Nothing to embed: give TEXTS or --file.")
    vectors = embed_texts([r.content for r in records], encoder, on_progress=on_progress)
    return EmbeddedItems(records, vectors)
