"""How long work reports progress: it calls a callback, and each face renders it its own way
(the CLI: a bar on a terminal, plain lines otherwise; the library: nothing)."""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[str, int, "int | None"], None]
"""Called as ``on_progress(stage, done, total)``: ``stage`` says what is being done
("Reading photos", "Indexing into news"), ``done`` how many units of it are finished so
far, ``total`` how many there will be (``None`` when unknown). A new ``stage`` means the
previous one is finished."""


def report(on_progress: ProgressCallback | None, stage: str, done: int, total: int | None) -> None:
    """Call ``on_progress`` if there is one."""
    if on_progress is not None:
        on_progress(stage, done, total)
