"""Ray jobs: embed large collections on a Ray cluster (or a local Ray) into a space.

A face like the CLI and the HTTP API: it turns its arguments into a ``RayEngine`` and calls
the application layer's ingest (``embedspace.ops.ingest``), which reads and checks the
files here, embeds their texts on Ray in resumable Parquet shards, and writes the space.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedspace.ops.ingest import IngestReport, ingest
from embedspace.ops.ray_engine import RayEngine

__all__ = ["RayEngine", "embed"]


def embed(
    space: str | Path,
    paths: Sequence[str | Path],
    *,
    address: str | None = None,
    workers: int | None = None,
    **options: Any,
) -> IngestReport:
    """Index ``paths`` into ``space`` with the texts embedded on Ray: the cluster at
    ``address``, or a local Ray started for the call. ``workers``: embedding actors
    (default one per CPU). ``options`` are ``ingest``'s (``text_fields``, ``id_field``,
    ``encoder``, ``skip_invalid``, ``sync``, ``on_progress``…). A re-run after a crash
    skips the shards already embedded and the items already written."""
    engine = RayEngine(address=address, workers=workers)
    return ingest(space, paths, engine=engine, **options)
