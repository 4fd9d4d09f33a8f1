"""Hybrid search: one ranking from a dense (meaning) and a keyword (bm25) candidate list.

Two ways, both over rowids with higher-is-better scores:

- **reciprocal rank fusion** (Cormack, Clarke and Büttcher, SIGIR 2009), the default: an
  item scores ``sum(1 / (60 + rank))`` over the lists it is in. Ranks only, so cosine and
  bm25 need no common scale;
- a **convex combination** ``alpha * dense + (1 - alpha) * keyword`` of the scores, each
  list min-max scaled to [0, 1] first (an item missing from a list gets 0 there), for when
  an evaluation finds a better ``alpha``.

Written here because each is a few lines of numpy over two candidate lists.
"""

from __future__ import annotations

import numpy as np

from embedspace.errors import InvalidInput

#: RRF's constant (the paper's 60): damps the weight of the very first ranks.
RRF_K = 60


def reciprocal_rank_fusion(
    *ranked: tuple[np.ndarray, np.ndarray], k: int, constant: int = RRF_K
) -> tuple[np.ndarray, np.ndarray]:
    """Rowids and fused scores (best first, ``k`` at most) of ranked ``(rowids, scores)``
    lists, each best first."""
    fused: dict[int, float] = {}
    for rowids, _scores in ranked:
        for rank, rowid in enumerate(rowids.tolist()):
            fused[rowid] = fused.get(rowid, 0.0) + 1.0 / (constant + rank + 1)
    return _top(fused, k)


def convex_combination(
    dense: tuple[np.ndarray, np.ndarray],
    keyword: tuple[np.ndarray, np.ndarray],
    *,
    alpha: float,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Rowids and scores (best first, ``k`` at most) of ``alpha * dense + (1 - alpha) *
    keyword``, each list's scores scaled to [0, 1]."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    fused: dict[int, float] = {}
    for (rowids, scores), weight in ((dense, alpha), (keyword, 1.0 - alpha)):
        for rowid, score in zip(rowids.tolist(), _scaled(scores).tolist(), strict=True):
            fused[rowid] = fused.get(rowid, 0.0) + weight * score
    return _top(fused, k)


def _scaled(scores: np.ndarray) -> np.ndarray:
    """``scores`` min-max scaled to [0, 1] (all 1 when they are equal)."""
    if not len(scores):
        return np.asarray(scores, dtype=np.float64)
    low, high = float(np.min(scores)), float(np.max(scores))
    if high - low <= 0:
        return np.ones(len(scores))
    return (np.asarray(scores, dtype=np.float64) - low) / (high - low)


def _top(fused: dict[int, float], k: int) -> tuple[np.ndarray, np.ndarray]:
    # best score first; equal scores by rowid, so the order is the same on every run
    best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
    rowids = np.array([rowid for rowid, _ in best], dtype=np.int64)
    scores = np.array([score for _, score in best], dtype=np.float32)
    return rowids, scores


#: Search modes: by meaning (vectors), by words (bm25), or both fused.
MODES = ("dense", "keyword", "hybrid")
#: Candidates each side contributes to a hybrid search (at least ``k``).
CANDIDATES = 100


def check_mode(mode: str, query: object, alpha: float | None) -> str:
    """``mode``, checked against the query it is used with; clear errors otherwise."""
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}, not {mode!r}.")
    if mode != "dense" and not isinstance(query, str):
        raise InvalidInput(
            f"mode {mode!r} searches the words of a text query; a vector query is dense only."
        )
    if alpha is not None:
        if mode != "hybrid":
            raise InvalidInput(
                "alpha weighs the two sides of a hybrid search: use it with the hybrid mode "
                "(--mode hybrid; mode='hybrid' in Python)."
            )
        if not isinstance(alpha, int | float) or not 0.0 <= float(alpha) <= 1.0:
            raise InvalidInput(
                f"alpha must be between 0 (keyword only) and 1 (dense only), not {alpha!r}."
            )
    return mode
