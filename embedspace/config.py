"""Where embedspace keeps things, and how many cores it may use.

Read-only helpers: nothing here writes the environment or creates directories at import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_VARIABLE = "EMBEDSPACE_HOME"
CACHE_VARIABLE = "EMBEDSPACE_CACHE"
#: A PostgreSQL URL: bare space names then live in that database (``--store`` sets it).
STORE_VARIABLE = "EMBEDSPACE_STORE"


def store_url() -> str | None:
    """Where bare space names live when not in ``$EMBEDSPACE_HOME``: ``$EMBEDSPACE_STORE``
    (a ``postgresql://`` URL), or ``None``."""
    return os.environ.get(STORE_VARIABLE) or None


def home() -> Path:
    """The folder of spaces given by bare name: ``$EMBEDSPACE_HOME``, else the user data dir."""
    configured = os.environ.get(HOME_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    if sys.platform.startswith("linux"):
        # The XDG rule platformdirs applies on Linux, without its ~10 ms import: every
        # CLI search resolves this folder (issue 10's fresh-search budget).
        data = os.environ.get("XDG_DATA_HOME", "").strip() or "~/.local/share"
        return Path(data).expanduser() / "embedspace"
    import platformdirs

    return Path(platformdirs.user_data_dir("embedspace", appauthor=False))


def cache_dir() -> Path:
    """The folder for derived, re-creatable files (prepared model graphs, the recipe chosen
    for this CPU): ``$EMBEDSPACE_CACHE``, else ``<home>/.cache``."""
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return home() / ".cache"


def cpu_count() -> int:
    """Cores this process may run on: its CPU affinity (a container's cpuset counts; a CPU
    quota does not)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
