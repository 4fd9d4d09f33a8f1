"""Where embedspace writes: one policy for every output file and folder.

- The folder an output goes into must already exist: embedspace never creates folders on
  a path you typed (a typo should be an error, not a new tree somewhere). Only its own
  home folder (``$EMBEDSPACE_HOME``) is created on demand.
- Files are written atomically: into a temporary sibling, flushed to disk, then renamed
  over the target, so a crash leaves the old file or the new one, never half of one.
- New files and folders get the permissions the umask allows (``0o666 & ~umask`` and
  ``0o777 & ~umask``), as if created by ``open``/``mkdir``; temporary files would
  otherwise keep ``tempfile``'s private 0600/0700.
- Every ``OSError`` becomes an ``EmbedspaceError`` naming the path and what to do.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from embedspace.errors import EmbedspaceError, InvalidInput

_STATUS = Path("/proc/self/status")


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux:
    ``/proc/self/status``); elsewhere set and restored at once."""
    try:
        for line in _STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions of a new file: ``0o666`` less the umask."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """Permissions of a new folder: ``0o777`` less the umask."""
    return 0o777 & ~current_umask()


def check_output_file(path: Path, suffixes: Iterable[str] = ()) -> None:
    """Refuse, before any work, an output file that cannot be written where it is named.

    ``suffixes`` (e.g. ``(".npy", ".parquet")``), when given, are the accepted endings.
    Raises ``InvalidInput`` for a wrong suffix, a missing parent folder, or a target that
    is a folder.
    """
    allowed = tuple(suffixes)
    if allowed and path.suffix.lower() not in allowed:
        raise InvalidInput(f"Cannot write '{path}': use a name ending in {', '.join(allowed)}.")
    if path.is_dir():
        raise InvalidInput(f"Cannot write {path}: it is a folder. Name a file inside it.")
    check_parent(path)


def check_new_folder(path: Path, kind: str) -> None:
    """Refuse, before any work, a folder that cannot be created where it is named."""
    if path.exists() and not path.is_dir():
        raise InvalidInput(f"Cannot create {kind} at {path}: a file is there. Choose another.")
    check_parent(path)


def check_parent(path: Path) -> None:
    """The folder ``path`` goes into must exist and be writable."""
    parent = path.parent
    if not parent.is_dir():
        raise InvalidInput(
            f"Cannot write {path}: there is no folder {parent}. Create it first "
            f"(mkdir -p {parent}) or choose another place."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidInput(
            f"Cannot write {path}: the folder {parent} is not writable for you. "
            "Choose a folder you can write to."
        )


def write_file(path: Path, fill: Callable[[Path], None]) -> None:
    """Write ``path`` atomically: ``fill(temporary_path)`` writes the content (the temporary
    file is a hidden sibling with the same suffix, so format-by-suffix writers work), which
    is then flushed to disk, given the umask's permissions and renamed over ``path``.

    The parent folder must exist (``check_output_file``). Raises ``EmbedspaceError`` for
    any ``OSError``; nothing is left behind but the old file, if there was one.
    """
    check_output_file(path)
    temp: Path | None = None
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent
        )
        os.close(handle)
        temp = Path(name)
        fill(temp)
        os.chmod(temp, file_mode())
        with open(temp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temp, path)
        temp = None
    except OSError as error:
        raise write_error(path, error) from None
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)


def write_error(path: Path, error: OSError) -> EmbedspaceError:
    """The one-line error for a failed write of ``path``."""
    reason = error.strerror or str(error)
    return EmbedspaceError(
        f"Could not write {path} ({reason}); nothing was written. Choose a folder on a disk "
        "you can write to, with space left."
    )
