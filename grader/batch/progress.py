"""How a batch shows it is moving: a rich progress bar on a terminal, one line per submission
otherwise (a log file, CI, a Slurm job's output).

    with make_progress(total=120, tty=None) as progress:      # tty=None: ask stderr
        progress.finished("s1001", "graded", 96, 100, 7.1)
        progress.skipped("s1002")
        progress.say("stopping: 2 gradings still running")

The bar shows done/total, failures so far (rejected inputs, grading errors, timeouts) and an
ETA from the gradings of this run (skipped ones are not counted in the rate).
"""
from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from grader.batch.resume import GRADED


class PlainProgress:
    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.done = 0
        self.failures = 0
        self.stream = stream
        self.width = len(str(total))

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def _line(self, key: str, text: str) -> None:
        self.done += 1
        print(f"[{self.done:>{self.width}}/{self.total}] {key}  {text}", file=self.stream, flush=True)

    def finished(self, key: str, status: str, score: float, maximum: float, seconds: float, reason: str = "") -> None:
        if status != GRADED:
            self.failures += 1
        why = f"  ({reason[:120]})" if reason and status != GRADED else ""
        self._line(key, f"{status}  {score:g}/{maximum:g}  {seconds:.1f} s{why}")

    def skipped(self, key: str) -> None:
        self._line(key, "already graded (same files, kit and config); skipped")

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class RichProgress(PlainProgress):
    def __init__(self, total: int, stream: TextIO) -> None:
        super().__init__(total, stream)
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        self.console = Console(file=stream)
        self.bar = Progress(SpinnerColumn(), TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("failures: {task.fields[failures]}"), TimeElapsedColumn(),
                            TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=False)
        self.task = self.bar.add_task("grading", total=total, failures=0)
        self.started = time.monotonic()

    def __enter__(self) -> RichProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.bar.__exit__(exc_type, exc, tb)

    def _line(self, key: str, text: str) -> None:
        self.done += 1
        self.bar.update(self.task, advance=1, failures=self.failures)
        if not text.startswith(GRADED):         # the bar is enough for a clean grading
            self.console.print(f"{key}  {text}", markup=False, highlight=False)

    def skipped(self, key: str) -> None:
        self.done += 1
        self.bar.update(self.task, advance=1, failures=self.failures)

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)


def make_progress(total: int, tty: bool | None = None) -> PlainProgress:
    """A rich bar on stderr when it is a terminal (or `tty`), else plain lines on stdout."""
    interactive = sys.stderr.isatty() if tty is None else tty
    return RichProgress(total, sys.stderr) if interactive else PlainProgress(total, sys.stdout)
