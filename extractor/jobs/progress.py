"""The progress bar on stderr: letters done of all, rate, time left, tokens used and failures."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as BarTask
from rich.text import Text


class _Rate(ProgressColumn):
    """Letters per second, as rich estimates it over the last half minute."""

    def render(self, task: BarTask) -> Text:
        speed = task.speed
        return Text(f"{speed:.1f} letters/s" if speed else "-- letters/s", style="progress.data.speed")


class BatchProgress:
    """One bar for the batch; letters skipped as already done count as done from the start."""

    def __init__(self, total: int, skipped: int, *, enabled: bool) -> None:
        self._bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[tokens]} tokens, {task.fields[failed]} failed"),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self._task = self._bar.add_task("batch", total=total, completed=skipped, tokens="0", failed=0)

    def advance(self, *, tokens: int, failed: int) -> None:
        self._bar.update(self._task, advance=1, tokens=f"{tokens:,}", failed=failed)

    def __enter__(self) -> BatchProgress:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()
