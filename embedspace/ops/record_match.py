"""Fuzzy matching of records (people, companies, products) across two tables or within one.

Blocking: every record's chosen fields become one string, embedded as character n-gram
TF-IDF (scikit-learn), reduced to a dense 128-d vector (truncated SVD) and searched with
the shared neighbour search (``ops.neighbours``: exact when small, HNSW when large), so
the work grows like n log n rather than n * m. Scoring: each candidate pair is scored
field by field with rapidfuzz (token-sort ratio, 0..1, averaged over the fields both
records fill in); pairs at or above the threshold are kept.

With a text ``encoder`` (e.g. ``minilm-l6``), meaning joins spelling: its vectors of the
joined fields are appended to the n-gram vectors for blocking, and the pair score becomes
``(1 - text_weight) * field score + text_weight * cosine``. That helps with synonyms and
descriptions ("Intl. Business Machines" / "IBM corp", product titles); on names and
addresses spelling is what matters (bench/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedspace.encoders import Encoder
from embedspace.encoders import get as get_encoder
from embedspace.errors import InvalidInput, MissingExtra
from embedspace.ops.neighbours import connected_groups, knn_graph, unit

DIMENSIONS = 128


@dataclass(frozen=True, slots=True)
class RecordPair:
    """A likely match: positions in the left and right tables and the pair's score."""

    left: int
    right: int
    score: float


def _text(record: Mapping[str, Any], fields: Sequence[str]) -> list[str]:
    return [" ".join(str(record.get(f) or "").lower().split()) for f in fields]


def _check(records: Sequence[Mapping[str, Any]], fields: Sequence[str], side: str) -> None:
    if not fields:
        raise InvalidInput("Name the fields to match on, e.g. --on name,city.")
    if not records:
        raise InvalidInput(f"The {side} table is empty.")
    missing = [f for f in fields if all(f not in r for r in records)]
    if missing:
        present = sorted({k for r in records[:100] for k in r})
        raise InvalidInput(
            f"The {side} table has no field {', '.join(map(repr, missing))}; "
            f"it has: {', '.join(present)}."
        )


def _vectors(texts: list[str]) -> np.ndarray:
    try:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
    except ImportError:
        raise MissingExtra("Matching records", "words", "scikit-learn") from None
    grams = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), sublinear_tf=True)
    sparse = grams.fit_transform(texts)
    size = min(DIMENSIONS, sparse.shape[1] - 1, len(texts) - 1)
    if size < 2:
        dense = sparse.toarray()
    else:
        dense = TruncatedSVD(n_components=size, random_state=0).fit_transform(sparse)
    return unit(dense)


def _meaning(encoder: Encoder, texts: list[str], progress: bool) -> np.ndarray:
    if "text" not in encoder.modalities:
        raise InvalidInput(f"Encoder '{encoder.name}' does not embed text; choose a text encoder.")
    unique, where = np.unique(
        np.asarray([t or " " for t in texts], dtype=object), return_inverse=True
    )
    vectors = encoder.encode(
        [str(u) if str(u).strip() else "(empty)" for u in unique], progress=progress
    )
    return unit(vectors)[where]


def _field_score(left: list[str], right: list[str]) -> float:
    from rapidfuzz import fuzz

    scores = [
        fuzz.token_sort_ratio(a, b) / 100 for a, b in zip(left, right, strict=True) if a and b
    ]
    return float(np.mean(scores)) if scores else 0.0


def match_records(
    left: Sequence[Mapping[str, Any]],
    right: Sequence[Mapping[str, Any]],
    on: Sequence[str],
    *,
    threshold: float = 0.7,
    candidates: int = 10,
    encoder: str | Encoder | None = None,
    text_weight: float = 0.3,
    progress: bool = False,
) -> list[RecordPair]:
    """Likely pairs between two tables, best first: for each left record, its
    ``candidates`` nearest right records are scored and kept at ``threshold`` or above.
    ``encoder`` adds a text model's similarity with weight ``text_weight``."""
    _check(left, on, "left")
    _check(right, on, "right")
    if not 0 <= threshold <= 1 or not 0 <= text_weight <= 1:
        raise InvalidInput("The threshold and text weight are numbers from 0 to 1 (e.g. 0.7).")
    left_texts = [_text(r, on) for r in left]
    right_texts = [_text(r, on) for r in right]
    joined = [" | ".join(t) for t in left_texts + right_texts]
    vectors = _vectors(joined)
    meaning: np.ndarray | None = None
    if encoder is not None:
        meaning = _meaning(get_encoder(encoder), joined, progress)
        vectors = np.hstack(
            [vectors * np.sqrt(1 - text_weight), meaning * np.sqrt(text_weight)]
        ).astype(np.float32)
    found, _ = knn_graph(vectors[len(left) :], candidates, queries=vectors[: len(left)])
    pairs = []
    for i, row in enumerate(found):
        for j in row:
            if j < 0:
                continue
            score = _field_score(left_texts[i], right_texts[int(j)])
            if meaning is not None:
                cosine = float(meaning[i] @ meaning[len(left) + int(j)])
                score = (1 - text_weight) * score + text_weight * max(cosine, 0.0)
            if score >= threshold:
                pairs.append(RecordPair(i, int(j), round(score, 6)))
    return sorted(pairs, key=lambda p: (-p.score, p.left, p.right))


def dedup_records(
    records: Sequence[Mapping[str, Any]],
    on: Sequence[str],
    *,
    threshold: float = 0.7,
    candidates: int = 10,
    encoder: str | Encoder | None = None,
    text_weight: float = 0.3,
    progress: bool = False,
) -> list[RecordPair]:
    """Likely duplicate pairs within one table (each pair once, ``left < right``)."""
    pairs = match_records(
        records,
        records,
        on,
        threshold=threshold,
        candidates=candidates + 1,
        encoder=encoder,
        text_weight=text_weight,
        progress=progress,
    )
    return [p for p in pairs if p.left < p.right]


def groups(pairs: Sequence[RecordPair], count: int) -> list[list[int]]:
    """Connected groups (two or more records) from duplicate pairs, largest first."""
    return connected_groups(((p.left, p.right) for p in pairs), count)
