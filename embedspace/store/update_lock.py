"""The lock file that lets one process at a time update a space's HNSW sidecar.

An advisory lock (``flock``, or ``msvcrt.locking`` on Windows) on a small file beside the
sidecar: the OS releases it when its process dies, so a killed writer never blocks others.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

LOCK_FILE = ".hnsw.lock"


@contextlib.contextmanager
def update_lock(path: Path, *, wait: bool) -> Iterator[bool]:
    """An exclusive lock on ``path`` for as long as the block runs (released by the OS if
    the process dies); yields ``False`` at once when another process holds it and
    ``wait`` is false. Raises ``OSError`` when the lock file cannot be opened (a folder
    that cannot be written)."""
    with open(path, "a+b") as handle:
        if not _lock(handle, wait):
            yield False
            return
        try:
            yield True
        finally:
            _unlock(handle)


def _lock(handle: IO[bytes], wait: bool) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _unlock(handle: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
