"""Milestone 03 in the grade: the rows of each held-out run.

Training, checking and measuring live in `grader.milestones.m03` (`score.py`: the grader's
training loop in the sandbox on the training split, `verify.py`: the NumPy replay that the run
follows from the student's code, `measure.py`: the grader's NumPy forward pass); this file
turns each `MilestoneRun` into the criteria rows `grade` reports. A run that is not "ok"
(not started, a replay that does not follow, malformed parameters) fails both rows with its
message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from grader.config import Config, MilestoneSpec
from grader.core.course import Course
from grader.core.outcomes import Outcome, Source, classify_probe
from grader.core.rows import Row, Section
from grader.milestones.m03.score import MilestoneRun, run_milestones

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
                    uid_slot: int | None = None) -> tuple[list[Row], dict[str, MilestoneRun]]:
    """Train and score every milestone dataset in the config; returns rows and the raw runs."""
    runs = run_milestones(impl, cfg, loaders, uid_slot=uid_slot)
    rows = [row for key, run in runs.items() for row in rows_for(run, cfg.milestone[key], cfg.course)]
    return rows, runs
