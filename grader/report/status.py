"""Where a student is: each module's public tests, the milestone's last run, the one next command.

    status = compute_status(assignments_dir(), load_config())
    status.modules[0]           # ModuleStatus("01", ..., state=State.DONE, passed=38, total=38)
    status.milestone.state      # "not run yet" | "passed" | "failed" | "older code"
    status.next_command         # "grader check 03"

Each module's state comes from its public tests' rows, run as `grader check` runs them for a
student (`grader.engine.grade.grade`, hidden=False, no milestone: training takes minutes) and
classified by the kit's outcome model (`grader.core.outcomes`) and prerequisite graph:

- done: every check passed or waits for a later module, and at least one passed;
- not started: nothing of it runs yet (no check passed or failed, and its TODOs are all still
  there or the checks stop at a prerequisite's TODO first);
- waiting for a prerequisite: its own checks pass, but some stop at a TODO of a module it builds on;
- in progress: anything else (some checks pass, fail or stop at one of its own TODOs);
- could not run: none of its checks could run (every row is an error: a test file that cannot be
  collected because a tinytorch file does not compile or import, a session error).

A module's rows are cached by the content of the files that decide them (`status_cache.py`),
so a status after editing one module re-runs only the modules that edit can change. The
milestone is never trained here: its last result comes from `last_run.py`, written by both
milestone paths, and counts only when it trained the current tinytorch files.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable

from grader.config import Config
from grader.core.outcomes import Outcome, parse_stub_message
from grader.core.rows import Row, SectionKind, all_passed
from grader.core.targets import MILESTONE, Targets
from grader.paths import public_tests_dir
from grader.report import last_run
from grader.report.status_cache import StatusCache, cache_key, dependencies

PROBLEMS = (Outcome.FAILED, Outcome.ERROR, Outcome.TIMEOUT)
_TODO = re.compile(rb"""NotImplementedError\(\s*(?:f?["'])Module (\d\d):""")
_WAITING_FOR = re.compile(r"waiting for Module (\d\d)\b")


class State(str, Enum):
    NOT_STARTED = "not started"
    IN_PROGRESS = "in progress"
    WAITING = "waiting for a prerequisite"
    DONE = "done"
    ERROR = "could not run"


@dataclass(frozen=True)
class ModuleStatus:
    number: str
    title: str
    file: str                       # "tinytorch/layers.py"
    state: State
    passed: int                     # public tests passed ...
    total: int                      # ... of this many
    failing: int = 0                # failed, errors, timeouts
    todos_left: int = 0             # `raise NotImplementedError("Module NN: ...")` left in tinytorch/
    blocked_by: tuple[str, ...] = ()    # prerequisites whose TODOs stop some of its checks
    later: tuple[str, ...] = ()     # later modules some of its checks wait for
    detail: str = ""                # the first problem, or what it waits for
    cached: bool = False            # rows reused from the cache (nothing that decides them changed)


@dataclass(frozen=True)
class MilestoneStatus:
    state: str                      # "not run yet" | "passed" | "failed" | "older code"
    runs: dict[str, last_run.DatasetRun] = field(default_factory=dict)
    current: bool = False           # every recorded run trained the current tinytorch files


@dataclass(frozen=True)
class Status:
    impl: Path
    modules: list[ModuleStatus]
    milestone: MilestoneStatus
    next_command: str               # "grader check 03"
    next_reason: str                # why that command
    seconds: float
    problems: list[str] = field(default_factory=list)   # the grader's own trouble (session errors)

    @property
    def failing(self) -> bool:
        return bool(self.problems) or any(m.failing or m.state is State.ERROR for m in self.modules)

    def to_json(self) -> dict[str, Any]:
        return {"impl": str(self.impl), "seconds": round(self.seconds, 3), "problems": self.problems,
                "modules": [{**m.__dict__, "state": m.state.value, "blocked_by": list(m.blocked_by),
                             "later": list(m.later)} for m in self.modules],
                "milestone": {"state": self.milestone.state, "current": self.milestone.current,
                              "runs": {k: r.__dict__ | {"when": r.when} for k, r in self.milestone.runs.items()}},
                "next": {"command": self.next_command, "reason": self.next_reason}}


def todos_left(impl: Path) -> dict[str, int]:
    """Stub TODOs still in `impl/tinytorch/*.py`, by the module they belong to ({"06": 25, ...})."""
    counts: dict[str, int] = {}
    for path in sorted((Path(impl) / "tinytorch").glob("*.py")):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for match in _TODO.finditer(data):
            number = match.group(1).decode()
            counts[number] = counts.get(number, 0) + 1
    return counts


def _needs(row: Row) -> str | None:
    """The module a NOT_STARTED or WAITING row stops at ("06"), from the classifier's reason."""
    if row.outcome is Outcome.NOT_STARTED:
        todo = parse_stub_message(row.reason.removeprefix("not started: "))
        return todo.module if todo else None
    if row.outcome is Outcome.WAITING:
        match = _WAITING_FOR.search(row.reason)
        return match.group(1) if match else None
    return None


def module_status(number: str, rows: list[Row], cfg: Config, todos: int, *, cached: bool = False) -> ModuleStatus:
    """The state of one module from its public-test rows (see the module docstring)."""
    info = cfg.course.modules[number]
    passed = sum(r.outcome is Outcome.PASSED for r in rows)
    problems = [r for r in rows if r.outcome in PROBLEMS]
    stops = [r for r in rows if r.outcome is Outcome.NOT_STARTED]
    needs = [_needs(r) for r in stops]
    blocked = tuple(sorted({n for n in needs if n and n != number}))
    own = [r for r, n in zip(stops, needs) if not n or n == number]
    later = tuple(sorted({n for r in rows if r.outcome is Outcome.WAITING and (n := _needs(r))}))
    common = dict(number=number, title=info.title, file=f"tinytorch/{info.name}.py", passed=passed, total=len(rows),
                  failing=len(problems), todos_left=todos, blocked_by=blocked, later=later, cached=cached)
    if not rows:
        return ModuleStatus(state=State.ERROR, detail="no public test of this module ran", **common)
    if all_passed(rows):
        waits = f"{len(rows) - passed} checks wait for Module {', '.join(later)}" if later else ""
        return ModuleStatus(state=State.DONE, detail=waits, **common)
    if problems:
        first = problems[0]
        where = f" (at {first.location})" if first.location and first.location not in first.reason else ""
        could_not_run = all(r.outcome is Outcome.ERROR for r in rows)     # e.g. a test file could not be collected
        return ModuleStatus(state=State.ERROR if could_not_run else State.IN_PROGRESS,
                            detail=f"{first.title}: {first.reason}{where}", **common)
    blocker = ", ".join(f"Module {n} ({cfg.course.title(n)})" for n in blocked)
    if blocked and not own:
        if passed or todos == 0:    # its own code runs as far as the checks reach it
            return ModuleStatus(state=State.WAITING, detail=f"{len(stops)} checks need {blocker}", **common)
        return ModuleStatus(state=State.NOT_STARTED, **common)
    if passed == 0 and todos > 0:
        return ModuleStatus(state=State.NOT_STARTED, **common)
    what = own[0].reason.removeprefix("not started: ") if own else ""
    return ModuleStatus(state=State.IN_PROGRESS, detail=f"next TODO: {what}" if what else "", **common)


def milestone_status(impl: Path, cfg: Config) -> MilestoneStatus:
    runs = last_run.read(impl)
    if not runs:
        return MilestoneStatus("not run yet")
    digest = last_run.files_digest(impl)
    current = all(r.files_digest == digest for r in runs.values())
    if not current:
        return MilestoneStatus("older code", runs, False)
    passed = set(cfg.milestone) <= set(runs) and all(r.passed for r in runs.values())
    if passed:
        return MilestoneStatus("passed", runs, True)
    return MilestoneStatus("failed" if any(not r.passed for r in runs.values()) else "not run yet", runs, True)


def next_step(modules: list[ModuleStatus], milestone: MilestoneStatus, cfg: Config) -> tuple[str, str]:
    """(the one command to run next, why) in course order."""
    for m in modules:
        if m.state is State.DONE:
            continue
        if m.state is State.ERROR:
            return f"grader check {m.number}", f"Module {m.number} ({m.title}): {m.detail or 'its checks could not run'}"
        if m.state is State.WAITING and m.blocked_by:
            first = m.blocked_by[0]
            return (f"grader check {first}",
                    f"Module {m.number} ({m.title}) needs Module {first} ({cfg.course.title(first)}) first")
        if m.failing:
            return f"grader check {m.number}", f"fix Module {m.number} ({m.title}): {m.detail}"
        doing = "start" if m.state is State.NOT_STARTED else "finish"
        todo = f": {m.todos_left} TODO{'s' if m.todos_left != 1 else ''} left in {m.file}" if m.todos_left else ""
        return f"grader check {m.number}", f"{doing} Module {m.number} ({m.title}){todo}"
    scripts = "assignments/milestones/03_1986_mlp/"
    if milestone.state == "passed":
        return "grader submit", "modules 01–08 and Milestone 03 pass: pack your work for upload"
    why = {"not run yet": "modules 01–08 pass: train the 1986 MLP with your tinytorch",
           "older code": "your tinytorch changed since the milestone last ran: run it again",
           "failed": "the milestone's last run did not pass"}[milestone.state]
    return f"grader check {MILESTONE}", f"{why} (or run the scripts in {scripts} to watch each epoch)"


def _public_tests(folder: Path, number: str) -> list[Path]:
    return sorted(folder.glob(f"test_{number}*.py"))


def compute_status(impl: Path, cfg: Config, *, use_cache: bool = True, public_dir: Path | None = None,
                   on_wait: Callable[[Any], None] | None = None, sandbox_public: bool | None = None) -> Status:
    """Run (or reuse) every module's public tests on `impl` and say where the student is.
    sandbox_public: as `grade`'s (by default a sandbox worker unless `impl` is the kit's assignments/)."""
    from grader.engine.grade import grade   # the engine (and its sandbox helpers) only when needed

    start = time.perf_counter()
    folder = public_dir or public_tests_dir()
    cache = StatusCache.load(impl)
    keys: dict[str, str] = {}
    rows: dict[str, list[Row]] = {}
    deps: dict[str, set[str]] = {}
    for number in cfg.modules:
        tests = _public_tests(folder, number)
        deps[number] = dependencies(impl, cfg, number, tests, cache.also(number))
        keys[number] = cache_key(impl, cfg, deps[number], tests)
        hit = cache.get(number, keys[number]) if use_cache else None
        if hit is not None:
            rows[number] = hit
    stale = tuple(n for n in cfg.modules if n not in rows)
    problems: list[str] = []
    if stale:
        report = grade(impl, Targets(stale, False), cfg=cfg, hidden=False, public_dir=folder, on_wait=on_wait,
                       sandbox_public=sandbox_public)
        problems = [f"{r.title}: {r.reason}" for r in report.rows if r.section.kind is SectionKind.SESSION]
        for number in stale:
            rows[number] = mine = [r for r in report.rows if r.module == number]
            tests = _public_tests(folder, number)
            unchanged = cache_key(impl, cfg, deps[number], tests) == keys[number]   # not edited during the run
            if mine and unchanged and not problems and not any(r.outcome is Outcome.TIMEOUT for r in mine):
                needed = {n for r in mine if (n := _needs(r))} - {number}
                cache.put(number, cache_key(impl, cfg, dependencies(impl, cfg, number, tests, needed), tests),
                          mine, needed)
            else:
                cache.drop(number)
        cache.save()
    todos = todos_left(impl)
    modules = [module_status(n, rows[n], cfg, todos.get(n, 0), cached=n not in stale) for n in cfg.modules]
    milestone = milestone_status(impl, cfg)
    command, reason = next_step(modules, milestone, cfg)
    return Status(Path(impl), modules, milestone, command, reason, time.perf_counter() - start, problems)
