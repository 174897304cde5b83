"""Milestone 03 in the grade: the rows of each held-out run.

Training, checking and measuring live in `grader.milestones.m03` (`score.py`: the grader's
training loop in the sandbox on the training split, `verify.py`: the NumPy replay that the run
follows from the student's code, `measure.py`: the grader's NumPy forward pass); this file
turns each `MilestoneRun` into the criteria rows `grade` reports. A run that is not "ok"
(not started, a replay that does not follow, malformed parameters) fails both rows with its
message.

In a student's own check (`student=True`) the datasets train in order under the limits of the
config's `student_check:` section, and one that does not pass stops the rest: MNIST is not
started after TinyDigits failed or timed out; a row says so and what to do. A tinytorch file
that does not compile trains nothing: the public tests name its line, once. Graded runs train
every dataset, for the points of each.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from grader.config import Config, MilestoneSpec
from grader.core.course import Course
from grader.core.outcomes import Outcome, Source, classify_probe
from grader.core.rows import Row, Section
from grader.milestones.m03.score import MilestoneRun, run_milestones
from grader.report.last_run import record_runs

__all__ = ["MilestoneRun", "rows_for", "score_milestone"]


def rows_for(run: MilestoneRun, spec: MilestoneSpec, course: Course) -> list[Row]:
    """The two criteria rows of one milestone run, each with its measured value and threshold."""
    name = spec.title
    acc_title = f"{name}: test accuracy ≥ {spec.min_test_accuracy:.0%}"
    loss_title = f"{name}: final training loss < {spec.max_train_loss:g}"
    common = dict(source=Source.MILESTONE, seconds=run.train_seconds, metrics=run.metrics)
    section = Section.milestone()
    if run.status != "ok":
        verdict = classify_probe(run.status, run.message, own_module=None, course=course)
        outcome = verdict.outcome if verdict.outcome is not Outcome.PASSED else Outcome.FAILED
        reason = verdict.reason or run.message
        return [Row(section, acc_title, outcome, reason, spec.accuracy_points, **common),
                Row(section, loss_title, outcome, reason, spec.loss_points, **common)]
    took = f"trained in {run.train_seconds:.1f} s (limit {spec.time_limit_seconds:.0f} s)"
    acc_ok = run.test_accuracy >= spec.min_test_accuracy
    loss_ok = run.train_loss < spec.max_train_loss
    return [
        Row(section, acc_title, Outcome.PASSED if acc_ok else Outcome.FAILED,
            f"measured {run.test_accuracy:.2%} (threshold {spec.min_test_accuracy:.0%}); {took}"
            + (f"; {run.pictures}" if run.pictures else ""),
            spec.accuracy_points, **common),
        Row(section, loss_title, Outcome.PASSED if loss_ok else Outcome.FAILED,
            f"measured {run.train_loss:.4f} (threshold < {spec.max_train_loss:g}); {took}",
            spec.loss_points, **common),
    ]


def score_milestone(impl: Path, cfg: Config, loaders: dict[str, Callable[[], object]],
                    uid_slot: int | None = None, *, student: bool = False) -> tuple[list[Row], dict[str, MilestoneRun]]:
    """Train and score every milestone dataset in the config; returns rows and the raw runs.
    student: a student's own check (see the module docstring)."""
    if not student:
        runs = run_milestones(impl, cfg, loaders, uid_slot=uid_slot)
        rows = [row for key, run in runs.items() for row in rows_for(run, cfg.milestone[key], cfg.course)]
        return rows, runs
    names = {num: m.name for num, m in cfg.modules.items()}
    broken = _not_compiling(impl)
    if broken:
        module = next((n for n, name in names.items() if f"tinytorch/{name}.py" == broken), None)
        shown = f" (its line is shown under Module {module})" if module else ""
        return [Row(Section.milestone(), f"{spec.title}: not trained", Outcome.ERROR,
                    f"not trained: {broken} does not compile{shown}; fix it first",
                    spec.accuracy_points + spec.loss_points, source=Source.MILESTONE)
                for spec in cfg.milestone.values()], {}
    rows, runs = [], {}
    failed: MilestoneSpec | None = None
    for key, spec in cfg.milestone.items():
        if failed is not None:
            rows.append(not_run_row(spec, failed))
            continue
        limited = dataclasses.replace(spec, time_limit_seconds=cfg.student_check.milestone_limit(spec))
        run = runs[key] = run_milestones(impl, dataclasses.replace(cfg, milestone={key: limited}), loaders,
                                         uid_slot=uid_slot)[key]
        spec_rows = rows_for(run, limited, cfg.course)
        if run.status == "timeout" and limited.time_limit_seconds < spec.time_limit_seconds:
            spec_rows = [dataclasses.replace(row, reason=f"{row.reason} (the limit of `grader check`; graded runs "
                                             f"allow {spec.time_limit_seconds:g} s)") for row in spec_rows]
        rows.extend(spec_rows)
        if any(row.outcome is not Outcome.PASSED for row in spec_rows):
            failed = spec
    record_runs(impl, cfg, runs, rows, how="grader check milestone03")     # what `grader status` shows
    return rows, runs


def _not_compiling(impl: Path) -> str:
    """'tinytorch/optim.py', the first file of the student's tinytorch that does not compile
    ("" when all do). Compiling runs none of the student's code."""
    for path in sorted((impl / "tinytorch").glob("*.py")):
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError):   # ValueError: a null byte in the source
            return f"tinytorch/{path.name}"
        except (OSError, RecursionError, MemoryError):
            continue                        # the training will say what it finds
    return ""


def not_run_row(spec: MilestoneSpec, failed: MilestoneSpec) -> Row:
    """The row of a dataset a student's check did not train because an earlier one did not pass."""
    return Row(Section.milestone(), f"{spec.title}: not run", Outcome.WAITING,
               f"not run because {failed.title} has not passed yet: get it passing first (`python milestones/03_1986_mlp/"
               f"{failed.script}` trains it and shows its progress), then `grader check milestone03` again. "
               f"Graded runs train both.", spec.accuracy_points + spec.loss_points, source=Source.MILESTONE)
