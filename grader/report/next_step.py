"""The one next thing to do, in course order, from the prerequisite graph in the config.

    next_step(report, cfg)                   # "Module 01 · Tensor (…) is not finished: implement …"
    next_step(report, cfg, select="add")     # after `grader check 01 -k add`: only those tests ran

A check that is not started says "implement", one that fails says "fix"; when everything
checked passed, the next module in course order after the last one checked (after Module 08,
the milestone) is named.
"""
from __future__ import annotations

import re

from grader.config import Config
from grader.core.outcomes import Outcome, parse_stub_message, short
from grader.core.rows import Row, SectionKind
from grader.core.targets import MILESTONE
from grader.engine.grade import GradeReport

DONE = (Outcome.PASSED, Outcome.WAITING)
_MILESTONE_TODO = re.compile(r"Module (\d\d)(?: \([^)]*\))?: ([^;]+)")   # "Module 01 (tensor): add forward; ..."


def module_done(rows: list[Row]) -> bool:
    return any(r.outcome is Outcome.PASSED for r in rows) and all(r.outcome in DONE for r in rows)


def _fix(row: Row, where: str, target: str) -> str:
    reason = short(row.reason, 200)
    at = f" (at {row.location})" if row.location and row.location not in reason else ""
    return f"{where}: fix “{row.title}” — {reason}{at} — then run `grader check {target}`."


def _implement(row: Row, heading: str, number: str, cfg: Config) -> str:
    """A check of `number` that is not started: the TODO it hit, in its own module."""
    course = cfg.course
    todo = parse_stub_message(row.reason.removeprefix("not started: "))
    at = f" ({row.location})" if row.location else ""
    if todo and todo.module != number:
        return (f"{heading} builds on Module {todo.module} ({course.title(todo.module)}), which is not "
                f"finished: implement {todo.what!r}{at}, then run `grader check {todo.module}`.")
    what = str(todo) if todo else row.reason.removeprefix("not started: ")
    return f"{heading} is not finished: implement {what!r}{at}, then run `grader check {number}`."


def _milestone_implement(row: Row, cfg: Config) -> str:
    """A milestone check that is not started: the first module whose TODO it needs."""
    match = _MILESTONE_TODO.search(row.reason)
    if match is None:
        return f"Milestone 03 needs modules that are not finished: implement {short(row.reason, 200)!r} first."
    number, what = match.group(1), match.group(2).strip()
    return (f"Milestone 03 needs Module {number} ({cfg.course.title(number)}), which is not finished: "
            f"implement {what!r}, then run `grader check {number}`.")


def next_step(report: GradeReport, cfg: Config, *, select: str = "") -> str:
    """select: the -k expression the public tests were chosen with ("" when all ran)."""
    course = cfg.course
    sessions = report.session_errors
    if sessions:
        first = sessions[0]
        return f"the grader could not finish the {first.section.key}: {short(first.reason, 240)}"
    by_module = {m: [r for r in report.rows if r.module == m] for m in report.targets.modules}
    waiting = 0
    for number in report.targets.modules:
        rows = by_module[number]
        waiting += sum(r.outcome is Outcome.WAITING for r in rows)
        if module_done(rows):
            continue
        heading = course.modules[number].heading
        problem = next((r for r in rows if r.outcome not in DONE), None)
        if problem is None:
            if select:
                return (f"no test of Module {number} matches -k {select!r}; run `grader check {number} -v` "
                        f"to see the names of its tests.")
            return f"{heading} has no checks that ran; run `grader check {number}`."
        if problem.outcome is Outcome.NOT_STARTED:
            return _implement(problem, heading, number, cfg)
        return _fix(problem, heading, number)
    note = (f" ({waiting} checks wait for a later module; they run once it is done.)" if waiting else "")
    if report.targets.milestone:
        milestone = [r for r in report.rows if r.section.kind is SectionKind.MILESTONE]
        problem = next((r for r in milestone if r.outcome is not Outcome.PASSED), None)
        if problem is not None and problem.outcome is Outcome.NOT_STARTED:
            return _milestone_implement(problem, cfg) + note
        if problem is not None:
            return _fix(problem, "Milestone 03", MILESTONE) + note
    if select and report.targets.modules:
        checked = " ".join(report.targets.modules)
        return (f"the tests matching -k {select!r} passed; run `grader check {checked}` for all of "
                f"{'its' if len(report.targets.modules) == 1 else 'their'} tests.{note}")
    if not report.targets.modules:
        return "Milestone 03 passed: your tinytorch trains the 1986 MLP." + note
    last = max(report.targets.modules)
    later = [n for n in course.order if n > last]
    if later:
        number = later[0]
        done = ("Module " if len(report.targets.modules) == 1 else "Modules ") + ", ".join(report.targets.modules)
        return (f"{done} passed. Next in course order: {course.modules[number].heading}: "
                f"`grader check {number}`.{note}")
    if not report.targets.milestone:
        first, done = course.order[0], ", ".join(report.targets.modules)
        finished = (f"Modules {first}–{last}" if report.targets.modules == course.order else
                    ("Module " if len(report.targets.modules) == 1 else "Modules ") + done)
        return f"{finished} passed. Next: the milestone, `grader check {MILESTONE}`.{note}"
    return "everything passed: `grader submit` packs your work into submission.zip for upload." + note
