"""Progress for the command line: a `rich` bar on a terminal, plain lines otherwise.

`ProgressReport` is what `studio models fetch` and `studio run` (long tools) drive:
`start(key, label, total)`, `update(key, done, message)`, `finish(key)`. On a TTY it
draws one bar per task on stderr and removes them when done; when stderr is not a
terminal (CI logs, pipes) it writes one plain line per step, and for fractional
progress only every 25 %, so a log stays short.
"""

from __future__ import annotations

import sys
from typing import IO, Any

PLAIN_STEP = 0.25  # fraction between two plain lines for one task


class ProgressReport:
    """Progress bars (rich, on a terminal) or plain lines (anything else) on `stream`."""

    def __init__(self, stream: IO[str] | None = None, *, plain: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.plain = (not self.stream.isatty()) if plain is None else plain
        self._rich: Any = None
        self._tasks: dict[str, Any] = {}
        self._plain_seen: dict[str, float] = {}
        self._labels: dict[str, str] = {}
        self._totals: dict[str, float] = {}

    def __enter__(self) -> ProgressReport:
        """Start drawing (rich) on a terminal."""
        if not self.plain:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._rich = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[note]}"),
                TimeElapsedColumn(), console=Console(file=self.stream), transient=True)
            self._rich.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop drawing; bars are removed from the terminal."""
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    def start(self, key: str, label: str, total: float = 1.0) -> None:
        """Begin a task named `label` that is complete at `total`."""
        self._labels[key], self._totals[key] = label, total
        if self._rich is not None:
            self._tasks[key] = self._rich.add_task(label, total=total, note="")
        else:
            self._plain_seen[key] = -1.0

    def has(self, key: str) -> bool:
        """Whether task `key` was started and has not finished."""
        return key in self._labels

    def update(self, key: str, done: float, message: str = "") -> None:
        """Move task `key` to `done` (of its total), with a short note."""
        if key not in self._labels:
            self.start(key, key)
        if self._rich is not None:
            self._rich.update(self._tasks[key], completed=done, note=message)
            return
        total = self._totals[key] or 1.0
        fraction = done / total
        if total != 1.0 or fraction - self._plain_seen[key] >= PLAIN_STEP:
            self._plain_seen[key] = fraction
            count = f"{done:g}/{total:g}" if total != 1.0 else f"{round(100 * fraction)} %"
            self.stream.write(f"{self._labels[key]}: {count}{'  ' + message if message else ''}\n")
            self.stream.flush()

    def log(self, message: str) -> None:
        """A line of text: above the bars on a terminal, else a plain line."""
        if self._rich is not None:
            self._rich.console.print(message, markup=False, highlight=False)
        else:
            self.stream.write(message + "\n")
            self.stream.flush()

    def finish(self, key: str) -> None:
        """Remove task `key` (it ended, however it ended)."""
        if self._rich is not None and key in self._tasks:
            self._rich.remove_task(self._tasks.pop(key))
        self._labels.pop(key, None)
        self._totals.pop(key, None)
        self._plain_seen.pop(key, None)
