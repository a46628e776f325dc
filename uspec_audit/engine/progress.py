"""Progress reporting: Rich progress bars in a terminal, nothing in tests or --json mode."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager


class Progress:
    """Silent progress (the base class): ``step(description, total)`` yields an ``advance(n)`` callable."""

    @contextmanager
    def step(self, description: str, total: float | None = None):
        yield lambda n=1: None

    def log(self, message: str) -> None:
        pass


class RichProgress(Progress):
    """One Rich progress bar per step, on the given console (stderr)."""

    def __init__(self, console):
        self.console = console

    @contextmanager
    def step(self, description: str, total: float | None = None):
        from rich.markup import escape
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        # A step without a known total shows a spinner and its elapsed time, never a count out of "?".
        counter = (BarColumn(), MofNCompleteColumn()) if total is not None else (SpinnerColumn(),)
        bars = Bars(TextColumn("{task.description:<44}"), *counter, TimeElapsedColumn(), console=self.console)
        with bars:
            task = bars.add_task(escape(description), total=total)
            advance: Callable = lambda n=1: bars.advance(task, n)  # noqa: E731
            yield advance
            if total is not None:
                bars.update(task, completed=total)

    def log(self, message: str) -> None:
        self.console.print(message)
