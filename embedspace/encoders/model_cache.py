"""Files an encoder prepares once per machine (ONNX graphs, label vectors) and keeps in the
cache folder, named by a digest of everything they depend on. A file is built under a
temporary name and renamed into place, so concurrent first uses and crashes are safe."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from embedspace.config import cache_dir
from embedspace.errors import EmbedspaceError

log = logging.getLogger("embedspace.prepare")  # the CLI shows these without --verbose


def cached_path(name: str, key: str, suffix: str = ".onnx") -> Path:
    """Where ``prepared_file`` keeps ``name`` for ``key`` (whether or not it exists yet)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "models" / f"{name}-{digest}{suffix}"


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
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp{temp_suffix}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        build(temp)
        os.replace(temp, target)
    except OSError as error:
        raise EmbedspaceError(
            f"Could not write the prepared {what} to {target.parent}: {error}. "
            "Free some space, or set EMBEDSPACE_HOME to a writable folder."
        ) from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
    return target
