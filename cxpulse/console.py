"""How the console talks to people: tables, progress with counts and rate, one-line errors (rich).

Data goes to standard output (tables, JSON, the one-line summaries scripts read); progress and
errors go to standard error, so ``cxpulse metrics --format json | jq`` stays clean. Progress bars
draw only on a terminal; elsewhere (CI, supervisord logs) a finished task prints one line with its
count, time and rate instead.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

REFRESH_S = 0.1
"""Least time between two progress redraws: a per-record update must not cost a redraw."""


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], *,
          right: Sequence[str] = (), title: str | None = None) -> Table:
    """A borderless table; ``right`` names the columns aligned right (numbers)."""
    grid = Table(title=title, box=None, header_style="bold", pad_edge=False, title_justify="left")
    for name in columns:
        grid.add_column(name, justify="right" if name in right else "left", no_wrap=True)
    for row in rows:
        grid.add_row(*(str(cell) for cell in row))
    return grid


PIPE_WIDTH = 240
"""Width of tables written to a pipe or file: wide enough that no value is cut."""


def show(renderable: RenderableType) -> None:
    """Print a table (or any renderable) on standard output: terminal width, or whole in a pipe."""
    if stdout.is_terminal:
        stdout.print(renderable)
    else:  # a console's width caps every print's: a pipe gets a console of its own
        Console(file=sys.stdout, width=PIPE_WIDTH, color_system=None, highlight=False).print(renderable)


def render(renderable: RenderableType, width: int = 240) -> str:
    """A table as plain text (no colour), e.g. for a test or a file."""
    console = Console(file=io.StringIO(), width=width, color_system=None, highlight=False)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())  # type: ignore[attr-defined]


def error(message: str) -> None:
    """One line on standard error: ``cxpulse: <message>``."""
    stderr.print(Text(f"cxpulse: {message}", style="bold red"))


class _Rate(ProgressColumn):
    """Items per second since the task started."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f}/s", style="cyan")


class Tracker:
    """Counts one long task; redraws at most every ``REFRESH_S``."""

    def __init__(self, progress: Progress, task: TaskID, unit: str) -> None:
        self._progress, self._task, self.unit = progress, task, unit
        self.count = 0
        self.started = time.monotonic()
        self._drawn = 0.0
        self._total: int | None = None

    def advance(self, n: int = 1) -> None:
        """``n`` more items done."""
        self.count += n
        now = time.monotonic()
        if now - self._drawn >= REFRESH_S:
            self._progress.update(self._task, completed=self.count)
            self._drawn = now

    def set(self, count: int, total: int | None = None) -> None:
        """Items done so far (and, once known, the total)."""
        self.count = count
        self._progress.update(self._task, completed=count, total=total)

    def remaining(self, left: int) -> None:
        """Work measured by what is left (a lag): the first value seen is the total."""
        self._total = max(self._total or 0, left)
        self.set(self._total - left, self._total)

    def note(self, text: str) -> None:
        """Replace the task's description (e.g. "records left")."""
        self._progress.update(self._task, description=text)


@contextmanager
def progress(description: str, *, total: int | None = None, unit: str = "records",
             quiet: bool = False) -> Iterator[Tracker]:
    """A progress line with counts and rate while the block runs; a summary line after it."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(bar_width=30),
                   TextColumn("{task.completed:,.0f}" + (f"/{total:,}" if total else "") + f" {unit}"),
                   _Rate(), TimeElapsedColumn(), console=stderr, transient=True,
                   disable=quiet or not stderr.is_terminal)
    with bar:
        tracker = Tracker(bar, bar.add_task(description, total=total), unit)
        yield tracker
        bar.update(tracker._task, completed=tracker.count)
    if not quiet:
        elapsed = max(time.monotonic() - tracker.started, 1e-6)
        stderr.print(f"{description}: {tracker.count:,} {unit} in {elapsed:.1f} s "
                     f"({tracker.count / elapsed:,.0f}/s)")
