"""Progress on stderr for every long command, drawn one way everywhere.

On a terminal: a rich bar (or a spinner when the amount of work is unknown) that vanishes
when the work is done. Anywhere else (a log file, CI, a pipe): plain lines such as
``Indexing into news: 2,048/10,000 (20%), 12 s``, at most one every ``INTERVAL_SECONDS``
(also while a single step takes long, so a quiet job is never mistaken for a hung one),
and a final line when the work took long enough to print any. Nothing is printed for
work that fails: the error says what happened.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import click

#: Least time between two plain progress lines.
INTERVAL_SECONDS = 5.0


class Progress:
    """One unit of long work: ``with Progress("Indexing into news", total=n) as bar:
    bar.advance(batch)``. ``total`` is ``None`` when the amount of work is unknown."""

    def __init__(
        self, description: str, total: int | None = None, *, terminal: bool | None = None
    ) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self._terminal = sys.stderr.isatty() if terminal is None else terminal
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = self._last_line = 0.0
        self._lines = 0
        self._ticker: threading.Thread | None = None
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        self._started = self._last_line = time.monotonic()
        if self._terminal:
            self._bar = _rich_bar(self.total is not None)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total)
        else:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def advance(self, count: int = 1) -> None:
        """Record ``count`` more units done."""
        self.update(self.done + count)

    def update(self, done: int, total: int | None = None, description: str | None = None) -> None:
        """Record that ``done`` units are finished (and, optionally, a new total or text)."""
        with self._lock:
            self.done = done
            self.total = total if total is not None else self.total
            self.description = description or self.description
            if self._bar is not None:
                self._bar.update(
                    self._task, completed=done, total=self.total, description=self.description
                )
            elif time.monotonic() - self._last_line >= INTERVAL_SECONDS:
                self._line()

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._bar is not None:
            self._bar.stop()
        elif kind is None and self._lines:
            with self._lock:
                self._line(final=True)

    def _tick(self) -> None:
        while not self._stop.wait(max(INTERVAL_SECONDS, 0.05)):
            with self._lock:
                if time.monotonic() - self._last_line >= INTERVAL_SECONDS:
                    self._line()

    def _line(self, *, final: bool = False) -> None:
        """Print the state as one line (the caller holds the lock)."""
        self._last_line = time.monotonic()
        self._lines += 1
        elapsed = _duration(self._last_line - self._started)
        if self.total:
            share = min(100, round(100 * self.done / self.total))
            state = f"{self.done:,}/{self.total:,} ({share}%), {elapsed}"
        elif self.done:
            state = f"{self.done:,}, {elapsed}"
        else:
            state = elapsed
        click.echo(f"{self.description}: {state}{', done' if final else ''}", err=True)


class Stages:
    """Renders an ops progress callback (``on_progress(stage, done, total)``): one
    ``Progress`` per stage, each finished when the next begins. Use as a context manager
    and pass the object itself as the callback."""

    def __init__(self, *, terminal: bool | None = None) -> None:
        self._terminal = terminal
        self._current: Progress | None = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if self._current is None or self._current.description != stage:
            self._finish(None)
            self._current = Progress(stage, total, terminal=self._terminal).__enter__()
        self._current.update(done, total)

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._finish(kind)

    def _finish(self, kind: type[BaseException] | None) -> None:
        if self._current is not None:
            self._current.__exit__(kind)
            self._current = None


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _rich_bar(counted: bool) -> Any:
    from rich import progress as rich
    from rich.console import Console

    columns: list[Any] = [rich.SpinnerColumn(), rich.TextColumn("{task.description}")]
    if counted:
        columns += [rich.BarColumn(), rich.MofNCompleteColumn(), rich.TimeRemainingColumn()]
    else:
        columns += [rich.TimeElapsedColumn()]
    return rich.Progress(*columns, console=Console(stderr=True), transient=True)
