"""Writing a whole folder (a trained model, a set of word vectors) atomically: it is built
in a temporary sibling and renamed into place, so a crash leaves either the old folder or
the new one, never half of one. Only a new, empty or same-kind folder may be replaced.

The output policy of ``embedspace.io.outputs`` applies: the parent folder must exist, the
new folder gets the umask's permissions, and any ``OSError`` is one clear error."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from embedspace.errors import EmbedspaceError, InvalidInput
from embedspace.io.outputs import check_new_folder, folder_mode


def check_replaceable(folder: Path, marker: str, kind: str) -> None:
    """Refuse ``folder`` unless it is new, empty, or holds ``marker`` (one of ``kind``), and
    its parent folder exists and is writable."""
    if folder.exists() and not (
        folder.is_dir() and (not any(folder.iterdir()) or (folder / marker).is_file())
    ):
        raise InvalidInput(f"{folder} exists and is not {kind}; choose a new output folder.")
    check_new_folder(folder, kind)


def write_atomically(folder: Path, fill: Callable[[Path], None], *, marker: str, kind: str) -> None:
    """Call ``fill(temporary_folder)``, then put the result at ``folder``."""
    check_replaceable(folder, marker, kind)
    temp: Path | None = None
    try:
        temp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        fill(temp)
        os.chmod(temp, folder_mode())
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old.{os.getpid()}")
            try:
                os.replace(folder, old)
                os.replace(temp, folder)
            except BaseException:  # an error or Ctrl-C between the renames: put the old back
                if not folder.exists() and old.exists():
                    os.replace(old, folder)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temp, folder)
    except OSError as error:
        reason = error.strerror or str(error)
        raise EmbedspaceError(
            f"Could not write {kind} to {folder} ({reason}); nothing was written. Choose a "
            "folder on a disk you can write to, with space left."
        ) from None
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)  # gone already when the rename succeeded
