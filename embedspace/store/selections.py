"""The rows a ``where`` filter selected, remembered until the space changes.

A filtered search scans every item's metadata (SQLite's JSON functions over the whole
table: ~100 ms at 100,000 items) and then reads the vectors of the rows it kept (~35 ms for
10,000 of them), where the search itself takes ~1 ms. A server answering one filter many
times, a loop of searches and ``search_many`` ask the same filter again and again; each
``NeighbourSearch`` keeps the last few selections, with their vectors once read, for as long
as the database stays at the data version (and that version's token: a restored copy at the
same number is another history, ``lineage.py``) they were read at.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

#: Selections kept, and the most vector bytes they may hold together (the rowids are small).
ENTRIES = 8
MAX_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Selection:
    """The ``rowids`` (sorted) a filter kept, and their ``vectors`` (``None`` when HNSW
    searches them: only the rowids are needed then)."""

    rowids: np.ndarray
    vectors: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        """Memory held."""
        return self.rowids.nbytes + (0 if self.vectors is None else self.vectors.nbytes)


class SelectionCache:
    """The last ``ENTRIES`` selections of one data version, least recently used dropped
    first, at most ``MAX_BYTES`` in all (a larger one keeps only its rowids, if they fit).
    Per search handle: a server's pool of handles holds one each (``server/read_pool.py``).
    Thread-safe."""

    def __init__(self, entries: int = ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self._entries, self._max_bytes = entries, max_bytes
        self._version: tuple[int, str | None] = (-1, None)
        self._kept: OrderedDict[tuple[str, str], Selection] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], version: tuple[int, str | None]) -> Selection | None:
        """The selection kept for ``key`` (a filter's SQL and its parameters) at ``version``
        (data version and token), or ``None``."""
        with self._lock:
            self._move_to(version)
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], version: tuple[int, str | None], chosen: Selection) -> None:
        """Remember ``chosen`` for ``key``, read at ``version``."""
        with self._lock:
            self._move_to(version)
            if chosen.nbytes > self._max_bytes and chosen.vectors is not None:
                chosen = Selection(chosen.rowids)  # the rowids still spare the next scan
            if chosen.nbytes > self._max_bytes:
                return
            self._kept.pop(key, None)
            self._kept[key] = chosen
            while len(self._kept) > self._entries or self._held() > self._max_bytes:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        """Forget every selection."""
        with self._lock:
            self._kept.clear()

    def _move_to(self, version: tuple[int, str | None]) -> None:
        """Forget every selection of another data version (under the lock)."""
        if version != self._version:
            self._version = version
            self._kept.clear()

    def _held(self) -> int:
        return sum(chosen.nbytes for chosen in self._kept.values())
