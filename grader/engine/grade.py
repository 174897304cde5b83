"""Grade one implementation: public tests, hidden tests and the milestone, combined into rows.

    report = grade(Path("assignments"), resolve_targets(["all"], cfg), cfg=cfg, hidden=True)

`grade` prints nothing, so `grader check`, batch grading and exporters share it. In a graded
run (`hidden=True`), and whenever the implementation is not the student's own checkout, student
code runs only in sandbox workers: behind every hidden-test probe, the milestone training and
the public tests. Independent parts run concurrently, each with its own sandbox uid slot.
The maximum score comes from the config, never from the rows that happened to come back.

A check that is not graded (no hidden tests: a student's own check, or an instructor's preview
of a submission, which runs sandboxed) uses the short limits of the config's `student_check:`
section, and its milestone trains MNIST only after TinyDigits passed (`milestone.py`).

Every grading has a deadline (`grading_deadline`: the sum of its parts' limits from the config,
plus a margin) and a watchdog (`watchdog.py`): at the deadline, or when the caller stops it
(SIGTERM in the CLI), everything the grading started is killed, the rows that finished are
kept and a visible "grading error: <reason>" row says why the rest is missing. A part that
fails inside the grader (a bug, or data no check foresaw) becomes such a row too, never an
exception that loses the other parts' rows.
"""
from __future__ import annotations

import dataclasses
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader.config import Config
from grader.core.context import GradingContext, ProbeLimits
from grader.core.outcomes import Outcome, Source, message_of
from grader.core.rows import Row, Section, SectionKind
from grader.core.targets import MILESTONE, Targets
from grader.engine.milestone import MilestoneRun, score_milestone
from grader.engine.sessions import SANDBOX_MARGIN_SECONDS, SessionSpec, run_session
from grader.engine.watchdog import GradingStop
from grader.paths import assignments_dir, hidden_tests_dir, public_tests_dir
from grader.sandbox import zygote
from grader.sandbox.privileges import sandbox_id
from grader.sandbox.runner import RUNS_AS_ROOT
from grader.sandbox.slots import SlotLease, SlotWait, default_pool

HIDDEN_SESSIONS = 2     # the hidden tests split into this many concurrent sessions (two cores)
DEADLINE_MARGIN_SECONDS = 120.0     # beyond the sum of the parts' limits (see grading_deadline)
MILESTONE_MARGIN_SECONDS = 60.0     # per milestone dataset: loading data, checking and measuring the run
STUCK_SECONDS = 60.0                # a stopped grading that has not returned by then is given up (on_stuck)


@dataclass
class GradeReport:
    impl: Path
    targets: Targets
    hidden: bool
    rows: list[Row]
    seconds: float
    max_score: float                    # from the config for the targets; 0 for an ungraded check
    milestone_runs: dict[str, MilestoneRun] = field(default_factory=dict)
    waited_seconds: float = 0.0         # waiting for sandbox slots before grading began (not in `seconds`)
    stopped: str = ""                   # why the grading was stopped early ("" when it ran to its end)

    @property
    def graded_rows(self) -> list[Row]:
        return [r for r in self.rows if r.points is not None]

    @property
    def score(self) -> float:
        return min(self.max_score, sum(r.earned for r in self.graded_rows)) if self.hidden else 0.0

    @property
    def session_errors(self) -> list[Row]:
        """The grader's own rows about parts that failed (never rows a test session wrote)."""
        return [r for r in self.rows if r.section.kind is SectionKind.SESSION and r.source is Source.SESSION]


def max_points(cfg: Config, targets: Targets) -> float:
    """What a perfect submission earns for `targets`, from the config alone."""
    total = sum(cfg.modules[m].points for m in targets.modules)
    if targets.milestone:
        total += cfg.milestone_hidden_points + sum(s.accuracy_points + s.loss_points for s in cfg.milestone.values())
    return total


def _test_files(folder: Path, modules: tuple[str, ...], milestone: bool) -> list[Path]:
    wanted = list(modules) + ([MILESTONE] if milestone else [])
    return [f for key in wanted for f in sorted(folder.glob(f"test_{key}*.py"))]


def default_loaders() -> dict[str, Callable[[], object]]:
    from grader.datasets import load_mnist, load_tinydigits
    return {"tinydigits": load_tinydigits, "mnist": load_mnist}


def base_context(impl: Path, cfg: Config) -> GradingContext:
    sb = cfg.sandbox
    return GradingContext(impl=str(impl), course=cfg.course, config_path=str(cfg.path),
                          probe_limits=ProbeLimits(sb.probe_time_limit_seconds, sb.probe_memory_mb,
                                                   sb.file_size_mb, sb.processes))


def _is_own_checkout(impl: Path) -> bool:
    return impl.resolve() == assignments_dir().resolve()


SLOTS_PER_GRADING = 2 + HIDDEN_SESSIONS   # public tests, milestone, each hidden session


def grading_deadline(cfg: Config, *, public: bool, hidden: bool, milestone: bool, sandbox_public: bool = True,
                     student: bool = False) -> float:
    """Seconds the whole grading may take, from the config: the sum of the limits of the parts
    it runs (each session's hard kill, each milestone training) plus DEADLINE_MARGIN_SECONDS.
    The parts run concurrently, so an honest grading ends long before it. student: a student's
    own check (the `student_check:` limits)."""
    total = DEADLINE_MARGIN_SECONDS
    if public:
        total += public_spec(cfg, (), student=student).hard_seconds + (SANDBOX_MARGIN_SECONDS if sandbox_public else 0)
    if hidden:
        total += SessionSpec("hidden tests", (), Source.HIDDEN, cfg.hidden_timeout_seconds,
                             cfg.hidden_session_seconds).hard_seconds
    if milestone:
        limit = cfg.student_check.milestone_limit if student else (lambda spec: spec.time_limit_seconds)
        total += sum(limit(spec) + MILESTONE_MARGIN_SECONDS for spec in cfg.milestone.values())
    return total


def public_spec(cfg: Config, files: tuple[Path, ...], *, student: bool, select: str = "") -> SessionSpec:
    """The public-test session: a graded run's limits (`tests:`), or a student's own check's
    (`student_check:`: short limits, a memory limit, a stall watch)."""
    if not student:
        return SessionSpec("public tests", files, Source.PUBLIC, cfg.public_timeout_seconds,
                           cfg.public_session_seconds, cfg.sandbox.probe_memory_mb, select=select)
    sc = cfg.student_check
    return SessionSpec("public tests", files, Source.PUBLIC, sc.test_seconds, sc.session_seconds, sc.memory_mb,
                       grace_seconds=sc.kill_grace_seconds, select=select, student=True,
                       stall_seconds=sc.stall_seconds, repeat_seconds=sc.repeat_test_seconds)


def grade(impl: Path, targets: Targets, *, cfg: Config, hidden: bool, public: bool = True,
          hidden_dir: Path | None = None, public_dir: Path | None = None,
          loaders: dict[str, Callable[[], object]] | None = None, lease: SlotLease | None = None,
          on_wait: Callable[[SlotWait], None] | None = None, sandbox_public: bool | None = None,
          stop: GradingStop | None = None, deadline_seconds: float | None = None,
          on_stuck: Callable[[str], None] | None = None, select: str = "",
          hidden_sessions: int = HIDDEN_SESSIONS) -> GradeReport:
    """Run the checks `targets` asks for against the implementation in `impl` (holds tinytorch/).

    lease: SLOTS_PER_GRADING sandbox uid slots held by the caller (a batch leases for all its
    jobs); by default this grading leases its own and reports any wait through `on_wait`.
    sandbox_public: run the public tests in a sandbox worker; by default whenever the run is
    graded or `impl` is not the kit's own assignments folder.
    stop: stops the grading early when its `stop(reason)` is called (the CLI's SIGTERM); the
    grading also stops at `deadline_seconds` (default: `grading_deadline` of the config). A
    stopped grading kills everything it started, keeps the rows that finished and adds a
    visible "grading error: <reason>" row. on_stuck: see `GradingStop.watch`.
    select: a pytest -k expression choosing which public tests run ("" runs them all).
    hidden_sessions: split the hidden tests over this many concurrent sessions (at most
    HIDDEN_SESSIONS); a batch running one grading per core passes 1.
    """
    if lease is None:
        with default_pool().lease(SLOTS_PER_GRADING, wait_report=on_wait) as own:
            return grade(impl, targets, cfg=cfg, hidden=hidden, public=public, hidden_dir=hidden_dir,
                         public_dir=public_dir, loaders=loaders, lease=own, sandbox_public=sandbox_public,
                         stop=stop, deadline_seconds=deadline_seconds, on_stuck=on_stuck, select=select)
    if len(lease.slots) < SLOTS_PER_GRADING:
        raise ValueError(f"grade() needs {SLOTS_PER_GRADING} sandbox slots, the lease holds {lease.slots}")
    start = time.perf_counter()
    slots = sorted(lease.slots)
    zygote.configure(cfg.sandbox.fork_server)
    stop = stop or GradingStop()
    ctx = base_context(impl, cfg)
    public_files = _test_files(public_dir or public_tests_dir(), targets.modules, False) if public else []
    hidden_files = _test_files(hidden_dir or hidden_tests_dir(), targets.modules, targets.milestone) if hidden else []
    width = max(1, min(HIDDEN_SESSIONS, hidden_sessions))
    shards = [tuple(hidden_files[i::width]) for i in range(width)]
    sandbox = sandbox_public if sandbox_public is not None else (hidden or not _is_own_checkout(impl))
    student = not hidden    # a check, not a grading: the short limits (sandboxed too for a folder not the student's own)
    if deadline_seconds is None:
        deadline_seconds = grading_deadline(cfg, public=bool(public_files), hidden=bool(hidden_files),
                                            milestone=targets.milestone, sandbox_public=sandbox, student=student)
    uids = [sandbox_id(slot) for slot in slots] if RUNS_AS_ROOT else []
    parts: list[tuple[str, Any]] = []
    rows: list[Row] = []
    runs: dict[str, MilestoneRun] = {}
    with stop.watch(deadline_seconds, uids, give_up_after=STUCK_SECONDS, on_stuck=on_stuck), \
            ThreadPoolExecutor(max_workers=2 + HIDDEN_SESSIONS) as pool:
        if public_files:
            spec = public_spec(cfg, tuple(public_files), student=student, select=select)
            parts.append((spec.name, pool.submit(run_session, spec, _with_slot(ctx, slots[0]), sandboxed=sandbox,
                                                 stop=stop)))
        for i, shard in enumerate(s for s in shards if s):
            name = "hidden tests" if len([s for s in shards if s]) == 1 else f"hidden tests ({i + 1} of {width})"
            spec = SessionSpec(name, shard, Source.HIDDEN, cfg.hidden_timeout_seconds, cfg.hidden_session_seconds)
            parts.append((name, pool.submit(run_session, spec, _with_slot(ctx, slots[2 + i]),
                                            handoff=lease.handoff(slots[2 + i]), stop=stop)))
        milestone_job = None
        if targets.milestone:
            milestone_job = pool.submit(score_milestone, impl, cfg, loaders or default_loaders(), uid_slot=slots[1],
                                        student=student)
        try:
            for name, job in parts:
                rows.extend(_rows_of(name, job))
            if milestone_job is not None:
                milestone_rows, runs = _milestone_of(milestone_job)
                rows.extend(milestone_rows)
        except BaseException:  # Ctrl-C: the watchdog kills every part, so the pool can shut down
            stop.stop("interrupted")
            raise
    if stop.reason:
        rows = [_stopped(row, runs, stop.reason) for row in rows]
        rows.append(Row(Section.session("grading"), f"grading error: {stop.reason}", Outcome.ERROR,
                        f"grading error: the grading was stopped ({stop.reason}) after "
                        f"{time.perf_counter() - start:.0f} s and everything it started was killed; the results "
                        f"that finished are kept, the rest score 0.", source=Source.SESSION))
    rows.sort(key=lambda r: _order(r, cfg))
    return GradeReport(impl, targets, hidden, rows, time.perf_counter() - start,
                       max_points(cfg, targets) if hidden else 0.0, runs, lease.waited_seconds, stop.reason)


def _rows_of(name: str, job: Any) -> list[Row]:
    """The rows of one part of the grading; a grader failure in it becomes a grading-error row."""
    try:
        return list(job.result())
    except Exception as exc:
        return [_failure_row(name, exc)]


def _milestone_of(job: Any) -> tuple[list[Row], dict[str, MilestoneRun]]:
    try:
        return job.result()
    except Exception as exc:
        return [_failure_row("milestone", exc)], {}


def _failure_row(name: str, exc: Exception) -> Row:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" ({Path(where.filename).name}:{where.lineno})" if where else ""
    return Row(Section.session(name), f"grading error: the {name} failed", Outcome.ERROR,
               f"grading error: the grader failed on the {name}: {type(exc).__name__}: {message_of(exc)}{at}",
               source=Source.SESSION)


def _stopped(row: Row, runs: dict[str, MilestoneRun], reason: str) -> Row:
    """A milestone row of a training the stop killed says so (not "crashed")."""
    if row.section.kind is SectionKind.MILESTONE and row.outcome is not Outcome.PASSED and \
            any(run.status != "ok" for run in runs.values()):
        return dataclasses.replace(row, outcome=Outcome.ERROR, reason=f"grading error: {reason}; {row.reason}")
    return row


def _with_slot(ctx: GradingContext, slot: int) -> GradingContext:
    from dataclasses import replace
    return replace(ctx, uid_slot=slot)


def _order(row: Row, cfg: Config) -> tuple[int, int, int]:
    kind = row.section.kind
    order = list(cfg.modules)
    position = order.index(row.section.key) if row.section.key in order else len(order)
    group = {SectionKind.MODULE: 0, SectionKind.MILESTONE: 1, SectionKind.SESSION: 2}[kind]
    source = {Source.PUBLIC: 0, Source.HIDDEN: 1, Source.MILESTONE: 2, Source.SESSION: 3}[row.source]
    return (group, position, source)
