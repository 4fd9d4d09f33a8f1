"""Files an encoder prepares once per machine (ONNX graphs, label vectors) and keeps in the
cache folder, named by a digest of everything they depend on. A file is built under a
temporary name and renamed into place, so concurrent first uses and crashes are safe.

Old versions do not pile up: a process that uses a file sets its access time (not its
modification time: other keys depend on that), and writing a new version of a file whose
name says which model it is (``prune=True``: the shipped models' graphs; not a trained
folder's, whose names are shared, nor recipe choices, which are alternatives) deletes the
versions of that name unused for a day (``STALE_AFTER``); writing an optimised copy
(``onnx_text``) deletes older copies of its source and copies of sources that are gone. A
file another installation still uses is prepared again if that one asks for it after all."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from embedspace.config import CACHE_VARIABLE, HOME_VARIABLE, cache_dir
from embedspace.errors import EmbedspaceError

log = logging.getLogger("embedspace.prepare")  # the CLI shows these without --verbose
#: Seconds unused after which an older version of a prepared file is deleted.
STALE_AFTER = 24 * 3600.0
_TOUCHED: dict[Path, float] = {}  # when this process last marked a path used
_TOUCHED_LOCK = threading.Lock()


def cached_path(name: str, key: str, suffix: str = ".onnx") -> Path:
    """Where ``prepared_file`` keeps ``name`` for ``key`` (whether or not it exists yet)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "models" / f"{name}-{digest}{suffix}"


def _publish_first(temp: Path, target: Path) -> None:
    """Put ``temp`` at ``target`` unless another process or thread got there first (then
    theirs is kept: every user of the file sees the same one, e.g. one recipe choice)."""
    try:
        os.link(temp, target)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links
        os.replace(temp, target)


def prepared_file(
    name: str,
    key: str,
    build: Callable[[Path], None],
    *,
    what: str,
    suffix: str = ".onnx",
    temp_suffix: str = "",
    usable: Callable[[Path], bool] | None = None,
    prune: bool = False,
) -> Path:
    """``cache/models/{name}-{digest of key}{suffix}``, made by ``build(temporary path)``
    the first time (or when ``usable`` rejects the cached file). ``prune``: writing it
    deletes the other versions of ``name`` unused for a day (see the module's docstring)."""
    target = cached_path(name, key, suffix)
    if target.exists() and (usable is None or usable(target)):
        mark_used(target)
        return target
    log.info("Preparing %s for this machine (once; can take up to a minute): %s", what, target)
    stale = target.exists()
    # Unique per process and thread: concurrent first uses each build their own.
    temp = target.with_name(
        f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp{temp_suffix}"
    )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        build(temp)
        if stale:
            os.replace(temp, target)
        else:
            _publish_first(temp, target)
    except OSError as error:
        variable = CACHE_VARIABLE if os.environ.get(CACHE_VARIABLE) else HOME_VARIABLE
        raise EmbedspaceError(
            f"Could not write the prepared {what} to {target.parent}: {error}. "
            f"Set {variable} to a writable folder with space left."
        ) from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
    mark_used(target)
    if prune:
        pattern = rf"{re.escape(name)}-[0-9a-f]{{16}}{re.escape(suffix)}"
        prune_versions(target.parent, pattern, target)
    return target


def mark_used(path: Path) -> None:
    """Record that this process uses ``path``: its access time, set when a process starts
    a session of the file (at most every few hours per process). The modification time
    stays: the optimised copy's key holds it. Where the file is another user's (a shared
    cache), reading it lets the file system's own access-time rule mark it instead."""
    now = time.time()
    with _TOUCHED_LOCK:
        if now - _TOUCHED.get(path, -STALE_AFTER) < STALE_AFTER / 4:
            return
        _TOUCHED[path] = now
    try:
        os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns))
    except PermissionError:  # not ours: relatime updates the access time of a read
        with contextlib.suppress(OSError):
            if path.is_dir():
                os.listdir(path)
            else:
                with path.open("rb") as opened:
                    opened.read(1)
    except OSError:  # a read-only cache: nothing is pruned there either
        pass


def last_used(path: Path) -> float:
    """When ``path`` was last used or written (``mark_used``)."""
    found = path.stat()
    return max(found.st_atime, found.st_mtime)


def prune_versions(folder: Path, pattern: str, keep: Path) -> list[Path]:
    """Delete the entries of ``folder`` whose names match ``pattern`` (the versions of one
    prepared file), other than ``keep``, unused for ``STALE_AFTER`` seconds; returns them."""
    deadline = time.time() - STALE_AFTER
    removed = []
    for entry in folder.iterdir() if folder.is_dir() else []:
        if entry != keep and re.fullmatch(pattern, entry.name) and _delete_unused(entry, deadline):
            log.info("Deleted an older version of a prepared file, unused for a day: %s", entry)
            removed.append(entry)
    return removed


def prune_orphans(folder: Path, keep: Path) -> list[Path]:
    """Delete the folders in ``folder`` (other than ``keep``) derived from a file that is
    gone, or from ``keep``'s own source (an older copy of it: made from an earlier version
    of the file, or by another onnxruntime), unused for ``STALE_AFTER`` seconds; returns
    them. Each names its source in its ``source`` file; folders without one stay."""

    def source_of(entry: Path) -> str | None:
        marker = entry / "source"
        return marker.read_text(encoding="utf-8") if marker.is_file() else None

    deadline = time.time() - STALE_AFTER
    own = source_of(keep)
    removed = []
    for entry in folder.iterdir() if folder.is_dir() else []:
        try:
            source = None if entry == keep else source_of(entry)
        except OSError:  # another process pruned it meanwhile
            continue
        if source is None or (source != own and Path(source).exists()):
            continue
        if _delete_unused(entry, deadline):
            log.info("Deleted an older prepared copy, unused for a day: %s", entry)
            removed.append(entry)
    return removed


def _delete_unused(entry: Path, deadline: float) -> bool:
    """Delete ``entry`` (a file, or a folder with its contents) if it was last used before
    ``deadline``; whether it was deleted (not if another process pruned it first, or it is
    not ours to delete)."""
    import shutil

    try:
        if last_used(entry) >= deadline:
            return False
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    except OSError:
        return False
    return True
