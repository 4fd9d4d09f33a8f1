"""Where embedspace keeps things, and how many cores it may use.

Read-only helpers: nothing here writes the environment or creates directories at import.
"""

from __future__ import annotations

import functools
import math
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
    """Cores this process may use: its CPU affinity (a container's cpuset counts), and no
    more than a cgroup CPU quota allows, rounded up (``docker run --cpus 2`` on a 64-core
    host: 2). Every thread pool embedspace sizes itself (onnxruntime calls side by side,
    faiss, the server's readers) starts from this number."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
    quota = cpu_quota()
    return min(cores, max(1, math.ceil(quota))) if quota else cores


_QUOTA_FILES = (  # cgroup v2, then v1 under its usual mount points
    ("/sys/fs/cgroup/cpu.max", None),
    ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    ("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us"),
)


@functools.cache
def cpu_quota(files: tuple[tuple[str, str | None], ...] = _QUOTA_FILES) -> float | None:
    """The CPU time this process's cgroup may use, in cores (``cpu.max`` "200000 100000"
    is 2.0), or ``None`` without a quota or a readable cgroup file. Read once: the files
    are not expected to change while a process runs (os.cpu_count ignores them, and so
    does Python's os.process_cpu_count)."""
    for quota_file, period_file in files:
        try:
            fields = Path(quota_file).read_text().split()
            if period_file is not None:
                fields.append(Path(period_file).read_text().strip())
        except OSError:
            continue
        if len(fields) != 2 or fields[0] in ("max", "-1"):
            return None
        try:
            quota, period = int(fields[0]), int(fields[1])
        except ValueError:
            return None
        return quota / period if quota > 0 and period > 0 else None
    return None
