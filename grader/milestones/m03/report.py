"""What the Milestone 03 scripts print: readiness problems, progress, the criteria table, the pictures.

Plain text on stdout (flushed line by line, so progress shows when piped); no colours, so the
output reads the same in a terminal, a log and a notebook.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.config import MilestoneSpec
from grader.milestones.m03.measure import Measurement
from grader.milestones.m03.pictures import Outcome, shown
from grader.milestones.m03.readiness import ModuleNames, Problem

DIVERGED = ("Training diverged, which usually means a wrong gradient (Module 06) or optimizer step "
            "(Module 07).")


@dataclass(frozen=True)
class Criterion:
    """One row of the criteria table."""

    name: str
    measured: str
    threshold: str
    passed: bool


def criteria(m: Measurement, spec: MilestoneSpec) -> list[Criterion]:
    """The milestone's two criteria, with the grader's thresholds: test accuracy >= the minimum,
    final training loss < the maximum."""
    return [
        Criterion("test accuracy", f"{m.test_accuracy:.2%}", f">= {spec.min_test_accuracy:.0%}",
                  bool(m.test_accuracy >= spec.min_test_accuracy)),
        Criterion("final training loss", f"{m.train_loss:.4f}", f"< {spec.max_train_loss:g}",
                  bool(m.train_loss < spec.max_train_loss)),
    ]


def print_criteria(title: str, rows: list[Criterion]) -> None:
    """A plain-text table: criterion, measured, threshold, PASS/FAIL."""
    header = ("criterion", "measured", "threshold", "result")
    table = [header] + [(r.name, r.measured, r.threshold, "PASS" if r.passed else "FAIL") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print(f"\n{title}")
    for i, row in enumerate(table):
        print("  " + "  ".join(cell.ljust(w) if j == 0 else cell.rjust(w) for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def print_problems(problems: list[Problem], names: ModuleNames, impl: Path) -> None:
    """What is missing or broken, one line per piece, grouped, with what to do next."""
    missing = [p for p in problems if p.missing]
    broken = [p for p in problems if not p.missing]
    print(f"\ntinytorch in {impl / 'tinytorch'} is not ready for this milestone yet.", flush=True)
    if missing:
        print("Missing (still raise NotImplementedError):")
        for p in missing:
            print(f"  {p.line(names)}")
    if broken:
        print("Broken (raise an error):")
        for p in broken:
            print(f"  {p.line(names)}")
    todo = ("Implement the missing pieces and fix the broken ones" if missing and broken else
            "Implement these" if missing else "Fix these")
    print(f"{todo} (each module's tests point at the details), then run this script again.", flush=True)


def progress_line(epoch: int, epochs: int, train_loss: float, test_accuracy: float, elapsed: float) -> str:
    """'  epoch  3/10  train loss 0.2177  test accuracy 95.50%  elapsed    0.01 s' (epoch from 0)."""
    return (f"  epoch {epoch + 1:>{len(str(epochs))}}/{epochs}  train loss {train_loss:.4f}  "
            f"test accuracy {test_accuracy:6.2%}  elapsed {elapsed:7.2f} s")


def print_verdict(title: str, rows: list[Criterion], train_loss: float) -> None:
    """The last lines: PASS, or which criteria failed and where to look."""
    if all(r.passed for r in rows):
        print(f"\nPASS: your tinytorch trains the 1986 MLP on {title}.", flush=True)
        return
    print(f"\nFAIL: {', '.join(r.name for r in rows if not r.passed)} not met. Check the module tests, "
          f"then try again (the recipe is fixed: the grader uses it too).")
    if not math.isfinite(train_loss):
        print(DIVERGED)
    sys.stdout.flush()


PICTURES = {"curves.png": "loss and accuracy after each epoch, train and test",
            "features.png": "the first layer's weights: what each hidden unit looks for",
            "confusion.png": "which digits the model confuses on the test set",
            "mistakes.png": "test digits it gets wrong, with true and predicted labels"}


def print_pictures(outcome: Outcome) -> None:
    """Each picture's path and what it shows; then how to get them, or why (the rest) could not
    be drawn."""
    if outcome.paths:
        print("\nPictures of what your network learned:")
        width = max(len(shown(path)) for path in outcome.paths)
        for path in outcome.paths:
            print(f"  {shown(path).ljust(width)}  {PICTURES.get(path.name, 'a picture')}")
    if outcome.problem or outcome.missing_matplotlib:
        print(f"\n{outcome.line()}")
    sys.stdout.flush()
