"""Exact single-query search through a float16 copy of a space's vectors.

Why: one query against 20,000 x 384 float32 vectors reads 30 MB, and that scan is bound by
memory, not arithmetic (bench/RESULTS.md §24: 0.86 ms of a 1.36 ms search); it also pushes
the encoder's weights out of the CPU's cache. A float16 copy halves the bytes. faiss scans
it (its scalar quantizer decodes float16 with SIMD on AVX2 and AVX-512 alike), the best
candidates are scored again from the float32 vectors, and a bound on float16's rounding
proves that no row left out could be in the top ``k``. When the proof fails (near-ties at
the edge of the candidates) more candidates are taken, and in the end the float32 scan
runs, so the answer is always the exact one.

The bound: float16 keeps 11 significant bits, so each stored component is off by at most
``2**-11 |x_i|`` (``2**-25`` in the subnormal range), and ``|q . x - q . x16|`` is at most
``2**-11 |q| |x| + 2**-25 sum |q_i|``; the float32 sums of both scans add at most about
``d 2**-24 |q| |x|`` each. ``error_bound`` takes each term with room to spare: the first
two times ``1 + 2**-10`` (second-order terms), the subnormal one doubled.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedspace.store.faiss_runtime import faiss_threads, load_faiss

#: The largest float16 value: a table with larger components keeps to the float32 scan.
FLOAT16_MAX = 65504.0
#: Candidates beyond ``k`` in the first float16 pass (enough for 20,000 sentence vectors:
#: the proof held for every one of 1,000 queries, bench/RESULTS.md §25).
EXTRA = 32


class HalfCopy:
    """A float16 copy of a vector table's rows, in the same order, kept in step with it."""

    def __init__(self, dim: int, index: Any, max_norm: float) -> None:
        self.dim = dim
        self._index = index
        self.max_norm = max_norm

    @classmethod
    def of(cls, matrix: np.ndarray) -> HalfCopy | None:
        """The copy of ``matrix``'s rows; ``None`` if a component is beyond float16's range."""
        faiss = load_faiss()
        rows = np.ascontiguousarray(matrix, dtype=np.float32)
        if len(rows) and not _fits(rows):
            return None
        index = faiss.IndexScalarQuantizer(
            rows.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        index.add(rows)
        return cls(rows.shape[1], index, _max_norm(rows))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def drop(self, positions: np.ndarray) -> None:
        """Remove the rows at ``positions`` (the rest keep their order, as the table's do)."""
        faiss = load_faiss()
        self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(positions, dtype=np.int64)))

    def append(self, rows: np.ndarray) -> bool:
        """Add ``rows`` at the end; ``False`` (nothing added) if one is beyond float16."""
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        if not _fits(rows):
            return False
        self._index.add(rows)
        self.max_norm = max(self.max_norm, _max_norm(rows))
        return True

    def top_k(
        self, matrix: np.ndarray, query: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Positions and inner products of the ``k`` best rows of ``matrix`` (the float32
        rows this copy mirrors) for one query (``(dim,)``), best first; ``None`` when the
        float16 pass cannot prove its answer: the caller scans the float32 rows."""
        count = len(matrix)
        if count != len(self) or k < 1 or k + EXTRA > count // 16:
            return None  # a k this large re-scores much of the table: scan float32
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        bound = self.error_bound(query[0])
        for wanted in (k + EXTRA, 4 * (k + EXTRA)):  # one retry, then the float32 scan
            with faiss_threads(1):
                approx, positions = self._index.search(query, wanted)
            found = positions[0]
            exact = matrix[found] @ query[0]
            order = np.argsort(-exact, kind="stable")[:k]
            # Every row left out scores at most its float16 score + bound <= the last
            # candidate's float16 score + bound.
            if exact[order[-1]] >= approx[0, -1] + bound:
                return found[order], exact[order].astype(np.float32)
        return None

    def error_bound(self, query: np.ndarray) -> float:
        """The most a row's float16 score can differ from its float32 one for ``query``."""
        norm = float(np.linalg.norm(query))
        rounding = (2.0**-11 + self.dim * 2.0**-23) * (1 + 2.0**-10)  # storage + both sums
        return rounding * norm * self.max_norm + 2.0**-24 * float(np.abs(query).sum())


def _fits(rows: np.ndarray) -> bool:
    return bool(np.isfinite(rows).all()) and float(np.abs(rows).max(initial=0.0)) < FLOAT16_MAX


def _max_norm(rows: np.ndarray) -> float:
    return float(np.linalg.norm(rows, axis=1).max(initial=0.0))
