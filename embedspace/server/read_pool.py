"""Handles of one space for searches that run side by side.

A ``Space`` handle is used by one thread at a time, so a server with one handle per space
answers its searches one after another: at 200 searches a second on 2 cores the handle's
lock was busy ~70% of the time and requests queued behind it (bench/RESULTS.md §24). A
search only reads, and several handles on one space are what several processes reading it
already are (each sees the others' writes through the database and the saved graph), so a
few extra handles let searches overlap. What each extra handle costs in memory: a database
connection, and for a space with an HNSW index its graph's links (~280 bytes a vector; the
vectors themselves are memory-mapped and shared), for a smaller space searched exactly its
own copy of the vectors (and, once it has served two searches, their float16 copy:
``store/half_scan.py``), and the ``where`` filters it remembers (up to 64 MB:
``store/selections.py``). Hence few handles (``MAX_HANDLES``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embedspace.errors import SpaceNotFound
from embedspace.store import Space
from embedspace.store.catalog import database_identity

#: The most handles a pool opens, whatever the core count (see the module's docstring).
MAX_HANDLES = 4


def not_served(name: str) -> SpaceNotFound:
    """The error for a space ``name`` that is not there (or is going)."""
    return SpaceNotFound(f"No space '{name}'; GET /spaces lists them.")


def open_space(name: str, path: Path) -> Space:
    """The space ``name`` at ``path``, opened; ``not_served`` if there is none."""
    if not Space.exists(path):
        raise not_served(name)
    return Space.open(path)


class ReadPool:
    """Up to ``size`` (at most ``MAX_HANDLES``) open handles of the space at ``path``,
    opened on first need; a caller takes one for a read (``taking``) and gives it back."""

    def __init__(self, name: str, path: Path, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, not {size}")
        self.name, self.path, self.size = name, path, min(size, MAX_HANDLES)
        self.identity = database_identity(path)  # taken before any handle is opened
        self.replaced = False  # closed because the space on disk is another one now
        self._idle: list[Space] = []
        self._made = 0
        self._closed = False
        self._changed = threading.Condition()

    @contextmanager
    def taking(self) -> Iterator[Space]:
        """A handle of the space for the block (waits while all ``size`` are in use)."""
        space = self._take()
        try:
            yield space
        finally:
            with self._changed:
                if self._closed:
                    self._made -= 1  # first: close() must not wait for ever if this fails
                    self._changed.notify_all()
                    space.close()
                else:
                    self._idle.append(space)
                    self._changed.notify_all()

    def _take(self) -> Space:
        with self._changed:
            while True:
                if self._closed:
                    raise not_served(self.name)
                if self._idle:
                    return self._idle.pop()
                if self._made < self.size:
                    self._made += 1
                    break
                self._changed.wait()
        try:  # opened outside the condition: other callers keep taking idle handles
            return open_space(self.name, self.path)
        except BaseException:
            with self._changed:
                self._made -= 1
                self._changed.notify_all()
            raise

    def retire(self) -> None:
        """Close the idle handles now and the others as their callers give them back,
        without waiting (for a space deleted or replaced through another process: the
        caller may hold a handle of this pool); later callers get ``SpaceNotFound``."""
        with self._changed:
            self.replaced = True
            self._shut()

    def close(self) -> None:
        """Close every handle: idle ones now, the rest when their callers give them back
        (this waits for that); later callers get ``SpaceNotFound``."""
        with self._changed:
            self._shut()
            while self._made > 0:
                self._changed.wait()

    def _shut(self) -> None:
        """Refuse later callers and close the idle handles (the caller holds the
        condition); handles in use close when given back (``taking``)."""
        self._closed = True
        self._changed.notify_all()  # callers waiting for a handle: refused now
        while self._idle:
            self._made -= 1
            self._idle.pop().close()
