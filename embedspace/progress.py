"""How long work reports progress: it calls a callback, and each face renders it its own way
(the CLI: a bar on a terminal, plain lines otherwise; the library: nothing)."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from typing import TextIO

ProgressCallback = Callable[[str, int, "int | None"], None]
"""Called as ``on_progress(stage, done, total)``: ``stage`` says what is being done
("Reading photos", "Indexing into news"), ``done`` how many units of it are finished so
far, ``total`` how many there will be (``None`` when unknown). A new ``stage`` means the
previous one is finished."""


def report(on_progress: ProgressCallback | None, stage: str, done: int, total: int | None) -> None:
    """Call ``on_progress`` if there is one."""
    if on_progress is not None:
        on_progress(stage, done, total)


def print_progress(stream: TextIO | None = None, *, interval: float = 5.0) -> ProgressCallback:
    """A callback that prints plain lines such as ``Embedding with minilm-l6: 64/100``
    to ``stream`` (standard error by default): when a stage starts, at most one line every
    ``interval`` seconds while it runs, and when it ends. No bars, no colours: for scripts,
    logs and the deprecated ``progress=True`` of encoders."""
    last: dict[str, float] = {}

    def show(stage: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if stage in last and not finished and now - last[stage] < interval:
            return
        last[stage] = now
        amount = f"{done:,}" if total is None else f"{done:,}/{total:,}"
        print(f"{stage}: {amount}", file=stream if stream is not None else sys.stderr, flush=True)

    return show


def legacy_progress(
    on_progress: ProgressCallback | None, progress: bool, *, stacklevel: int = 3
) -> ProgressCallback | None:
    """``on_progress``, or for the deprecated ``progress=True`` of the public methods a
    printer of plain lines (with a ``DeprecationWarning`` pointing at the caller)."""
    if not progress:
        return on_progress
    warnings.warn(
        "progress=True is deprecated: pass on_progress=callback (see embedspace.progress; "
        "embedspace.progress.print_progress() prints plain lines).",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return on_progress if on_progress is not None else print_progress()
