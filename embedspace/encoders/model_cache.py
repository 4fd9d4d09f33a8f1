"""Files an encoder prepares once per machine (ONNX graphs, label vectors) and keeps in the
cache folder, named by a digest of everything they depend on. A file is built under a
temporary name and renamed into place, so concurrent first uses and crashes are safe."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from embedspace.config import CACHE_VARIABLE, HOME_VARIABLE, cache_dir
from embedspace.errors import EmbedspaceError

log = logging.getLogger("embedspace.prepare")  # the CLI shows these without --verbose


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
) -> Path:
    """``cache/models/{name}-{digest of key}{suffix}``, made by ``build(temporary path)``
    the first time (or when ``usable`` rejects the cached file)."""
    target = cached_path(name, key, suffix)
    if target.exists() and (usable is None or usable(target)):
        return target
    log.info("Preparing %s for this machine (once; can take a few seconds): %s", what, target)
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
    return target
