"""Writing a whole folder (a trained model, a set of word vectors) atomically: it is built
in a temporary sibling and renamed into place, so a crash leaves either the old folder or
the new one, never half of one. Only a new, empty or same-kind folder may be replaced."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from embedspace.errors import EmbedspaceError, InvalidInput


def check_replaceable(folder: Path, marker: str, kind: str) -> None:
    """Refuse ``folder`` unless it is new, empty, or holds ``marker`` (one of ``kind``)."""
    if folder.exists() and not (
        folder.is_dir() and (not any(folder.iterdir()) or (folder / marker).is_file())
    ):
        raise InvalidInput(f"{folder} exists and is not {kind}; choose a new output folder.")


def write_atomically(folder: Path, fill: Callable[[Path], None], *, marker: str, kind: str) -> None:
    """Call ``fill(temporary_folder)``, then put the result at ``folder``."""
    check_replaceable(folder, marker, kind)
    folder.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        fill(temp)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old.{os.getpid()}")
            os.replace(folder, old)
            os.replace(temp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temp, folder)
    except OSError as error:
        raise EmbedspaceError(f"Could not write {kind} to {folder}: {error}") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)  # gone already when the rename succeeded
