"""Progress on stderr for every long command, drawn one way everywhere.

On a terminal: rich bars (a spinner when the amount of work is unknown) that vanish when
the work is done. Anywhere else (a log file, CI, a pipe): plain lines such as
``Indexing into news: 2,048/10,000 (20%), 12 s``, at most one every ``INTERVAL_SECONDS``
(also while a single step takes long, so a quiet job is never mistaken for a hung one),
and a final line ending in ``done`` when the work took long enough to print any. Nothing
more is printed for work that fails: the error says what happened.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import click

#: Least time between two plain progress lines of one task.
INTERVAL_SECONDS = 5.0


class Progress:
    """One piece of long work: ``with Progress("Indexing into news", total=n) as bar:
    bar.advance(batch)``. ``total`` is ``None`` when the amount of work is unknown.

    ``terminal`` (default: whether stderr is one) chooses a bar or plain lines; ``display``
    lets several tasks share one terminal display (see ``Stages``).
    """

    def __init__(
        self,
        description: str,
        total: int | None = None,
        *,
        terminal: bool | None = None,
        display: _Display | None = None,
    ) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self.paused = False
        self._terminal = sys.stderr.isatty() if terminal is None else terminal
        self._display = display
        self._owns_display = False
        self._task: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = self._last_line = 0.0
        self._lines = 0
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Progress:
        self._started = self._last_line = time.monotonic()
        if self._terminal:
            if self._display is None:
                self._display, self._owns_display = _Display(), True
            self._task = self._display.add(self.description, self.total)
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
            if self._display is not None:
                self._display.update(self._task, self.description, self.done, self.total)
            elif time.monotonic() - self._last_line >= INTERVAL_SECONDS:
                self._line()

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._display is not None:
            self._display.remove(self._task)
            if self._owns_display:
                self._display.stop()
        elif kind is None and self._lines:
            with self._lock:
                self._line(final=True)

    def _tick(self) -> None:
        while not self._stop.wait(max(INTERVAL_SECONDS, 0.05)):
            with self._lock:
                if not self.paused and time.monotonic() - self._last_line >= INTERVAL_SECONDS:
                    self._line()

    def _line(self, *, final: bool = False) -> None:
        """Print the state as one line (the caller holds the lock)."""
        self._last_line = time.monotonic()
        self._lines += 1
        elapsed = _duration(self._last_line - self._started)
        amount = _amount(self.done, self.total)
        state = f"{amount}, {elapsed}" if amount else elapsed
        click.echo(f"{self.description}: {state}{', done' if final else ''}", err=True)


class Stages:
    """Renders an ops progress callback (``on_progress(stage, done, total)``), passed as the
    object itself inside ``with Stages() as progress``: one task per stage.

    A stage ends when it reaches its total, or when another stage begins and it has no
    total. A counted stage that another interrupts (an index build in the middle of
    writing) waits, quietly, and carries on when it reports again.
    """

    def __init__(self, *, terminal: bool | None = None) -> None:
        self._terminal = sys.stderr.isatty() if terminal is None else terminal
        self._display = _Display() if self._terminal else None
        self._open: dict[str, Progress] = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        bar = self._open.get(stage)
        if bar is None:
            for name, other in list(self._open.items()):
                if other.total is None:
                    self._end(name, None)
            bar = Progress(stage, total, terminal=self._terminal, display=self._display)
            self._open[stage] = bar.__enter__()
        for other in self._open.values():
            other.paused = other is not bar
        bar.update(done, total)
        if bar.total is not None and bar.done >= bar.total:
            self._end(stage, None)

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.close(kind)

    def close(self, kind: type[BaseException] | None = None) -> None:
        """End every stage and the display (before printing to a terminal it shares)."""
        for name in reversed(list(self._open)):
            self._end(name, kind)
        if self._display is not None:
            self._display.stop()

    def _end(self, stage: str, kind: type[BaseException] | None) -> None:
        self._open.pop(stage).__exit__(kind)


class _Display:
    """One rich live display on stderr holding the tasks of a command (rich allows only
    one live display at a time)."""

    def __init__(self) -> None:
        from rich import progress as rich
        from rich.console import Console

        self._bar = rich.Progress(
            rich.SpinnerColumn(),
            rich.TextColumn("{task.description}"),
            rich.BarColumn(),
            rich.TextColumn("{task.fields[amount]}"),
            rich.TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._started = False

    def add(self, description: str, total: int | None) -> Any:
        """A new task (the display starts with the first)."""
        if not self._started:
            self._bar.start()
            self._started = True
        return self._bar.add_task(description, total=total, amount=_amount(0, total))

    def update(self, task: Any, description: str, done: int, total: int | None) -> None:
        """Show a task's new state."""
        self._bar.update(
            task,
            completed=done,
            total=total,
            description=description,
            amount=_amount(done, total),
        )

    def remove(self, task: Any) -> None:
        """Take a finished task off the display."""
        self._bar.remove_task(task)

    def stop(self) -> None:
        """End the display (it leaves nothing behind)."""
        if self._started:
            self._bar.stop()
            self._started = False


def _amount(done: int, total: int | None) -> str:
    if total:
        return f"{done:,}/{total:,} ({min(100, round(100 * done / total))}%)"
    return f"{done:,}" if done else ""


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
