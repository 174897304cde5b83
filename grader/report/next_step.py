"""The one next thing to do, in course order, from the prerequisite graph in the config."""
from __future__ import annotations

from grader.config import Config
from grader.core.outcomes import Outcome, parse_stub_message, short
from grader.core.rows import Row, SectionKind
from grader.core.targets import MILESTONE
from grader.engine.grade import GradeReport

DONE = (Outcome.PASSED, Outcome.WAITING)


def module_done(rows: list[Row]) -> bool:
    return any(r.outcome is Outcome.PASSED for r in rows) and all(r.outcome in DONE for r in rows)


def _fix(row: Row, where: str, target: str) -> str:
    reason = short(row.reason, 200)
    at = f" (at {row.location})" if row.location and row.location not in reason else ""
    return f"{where}: fix “{row.title}” — {reason}{at} — then run `grader check {target}`."


def next_step(report: GradeReport, cfg: Config) -> str:
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
            return f"{heading} has no checks that ran; run `grader check {number}`."
        if problem.outcome is Outcome.NOT_STARTED:
            todo = parse_stub_message(problem.reason.removeprefix("not started: "))
            if todo and todo.module != number:
                return (f"{heading} builds on Module {todo.module} ({course.title(todo.module)}), which is not "
                        f"finished: implement {str(todo)!r}, then run `grader check {todo.module}`.")
            what = str(todo) if todo else problem.reason.removeprefix("not started: ")
            return f"{heading} is not finished: implement {what!r}, then run `grader check {number}`."
        return _fix(problem, heading, number)
    note = (f" ({waiting} checks wait for a later module; they run once it is done.)" if waiting else "")
    if report.targets.milestone:
        milestone = [r for r in report.rows if r.section.kind is SectionKind.MILESTONE]
        problem = next((r for r in milestone if r.outcome is not Outcome.PASSED), None)
        if problem is not None:
            return _fix(problem, "Milestone 03", MILESTONE) + note
    if not report.targets.modules:
        return "Milestone 03 passed: your tinytorch trains the 1986 MLP." + note
    last = max(report.targets.modules)
    later = [n for n in course.order if n > last] or [n for n in course.order if n not in report.targets.modules]
    if later:
        number = later[0]
        done = ("Module " if len(report.targets.modules) == 1 else "Modules ") + ", ".join(report.targets.modules)
        return (f"{done} passed. Next in course order: {course.modules[number].heading}: "
                f"`grader check {number}`.{note}")
    if not report.targets.milestone:
        return f"Modules 01–08 passed. Next: the milestone, `grader check {MILESTONE}`.{note}"
    return "everything passed. Submit your work." + note
