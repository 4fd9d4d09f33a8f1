"""Making a new space folder: built under a temporary name and renamed into place, so a
space is either whole or absent, also when two processes create the same one at once or
one is killed halfway.

The temporary folder is ``.<name>.creating-<pid>-<random>`` next to the space; one left by a
killed process (its pid gone) is removed by the next creation in that folder.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from embedspace.errors import InvalidInput, SpaceExists
from embedspace.io.outputs import folder_mode
from embedspace.store import database as db

_TAKEN = (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR)


def create_folder(
    path: Path,
    stamp: db.Stamp,
    software_version: str,
    shown_as: str,
    keyword_index: str = "porter",
) -> None:
    """Create the space folder ``path`` with an initialised database stamped ``stamp``.

    Raises ``SpaceExists`` when something is (or, racing another process, has just been)
    put at ``path``, and a ``StorageError`` when the disk refuses (full, read-only, no
    permission); nothing is left behind either way.
    """
    exists = SpaceExists(
        f"{path} already exists. Open it with Space.open, or delete it first "
        f"('embedspace delete {shown_as}')."
    )
    if path.exists() and (path.is_file() or any(path.iterdir())):
        raise exists
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_abandoned(path)
        building = Path(
            tempfile.mkdtemp(prefix=f".{path.name}.creating-{os.getpid()}-", dir=path.parent)
        )
    except OSError as error:
        raise db.storage_error(error, path) from None
    try:
        os.chmod(building, folder_mode())  # as mkdir would make it (mkdtemp: 0700)
        db.initialise(building, stamp, software_version, keyword_index)
        if path.is_dir() and not path.is_symlink():
            path.rmdir()  # an empty folder made for the space (fails if filled meanwhile)
        os.rename(building, path)  # fails if another process's space is there by now
    except OSError as error:
        shutil.rmtree(building, ignore_errors=True)
        if error.errno in _TAKEN:
            raise exists from None
        raise db.storage_error(error, path) from None
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def chosen_ann(ann: str | None, encoder: object, *, postgres: bool) -> str:
    """The ``ann`` setting (``database.ANN_KINDS``) a new space gets: ``ann``, else the
    given ``Stamp``'s, else ``hnsw``; ``InvalidInput`` for an unknown one, or a quantised one
    in PostgreSQL (pgvector indexes its own way)."""
    if ann is None:  # a copy into PostgreSQL takes pgvector's index, whatever its source's
        ann = encoder.ann if isinstance(encoder, db.Stamp) and not postgres else "hnsw"
    if ann not in db.ANN_KINDS:
        raise InvalidInput(f"ann must be one of {', '.join(db.ANN_KINDS)}, not {ann!r}.")
    if postgres and ann != "hnsw":
        raise InvalidInput(
            "PostgreSQL spaces are indexed by pgvector's own HNSW; --ann applies to spaces "
            "kept in folders."
        )
    return ann


def remove_abandoned(path: Path) -> list[Path]:
    """Remove the temporary folders that killed creations of spaces next to ``path`` left
    behind (``.<name>.creating-<pid>-*`` whose process is gone); returns what was removed."""
    removed = []
    for folder in path.parent.glob(".*.creating-*"):
        pid = folder.name.rpartition(".creating-")[2].partition("-")[0]
        if folder.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    """Whether a process with this id runs (on this machine)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True
