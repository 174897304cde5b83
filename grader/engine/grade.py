"""Grade one implementation: public tests, hidden tests and the milestone, combined into rows.

    report = grade(Path("assignments"), resolve_targets(["all"], cfg), cfg=cfg, hidden=True)

`grade` prints nothing, so `grader check`, batch grading and exporters share it. In a graded
run (`hidden=True`), and whenever the implementation is not the student's own checkout, student
code runs only in sandbox workers: behind every hidden-test probe, the milestone training and
the public tests. Independent parts run concurrently, each with its own sandbox uid slot.
The maximum score comes from the config, never from the rows that happened to come back.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader.config import Config
from grader.core.context import GradingContext, ProbeLimits
from grader.core.outcomes import Source
from grader.core.rows import Row, SectionKind
from grader.core.targets import MILESTONE, Targets
from grader.engine.milestone import MilestoneRun, score_milestone
from grader.engine.sessions import SessionSpec, run_session
from grader.paths import assignments_dir, hidden_tests_dir, public_tests_dir
from grader.sandbox.slots import SlotLease, SlotWait, default_pool

HIDDEN_SESSIONS = 2     # the hidden tests split into this many concurrent sessions (two cores)


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

    @property
    def graded_rows(self) -> list[Row]:
        return [r for r in self.rows if r.points is not None]

    @property
    def score(self) -> float:
        return min(self.max_score, sum(r.earned for r in self.graded_rows)) if self.hidden else 0.0

    @property
    def session_errors(self) -> list[Row]:
        return [r for r in self.rows if r.section.kind is SectionKind.SESSION]


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


def grade(impl: Path, targets: Targets, *, cfg: Config, hidden: bool, public: bool = True,
          hidden_dir: Path | None = None, public_dir: Path | None = None,
          loaders: dict[str, Callable[[], object]] | None = None, lease: SlotLease | None = None,
          on_wait: Callable[[SlotWait], None] | None = None, sandbox_public: bool | None = None) -> GradeReport:
    """Run the checks `targets` asks for against the implementation in `impl` (holds tinytorch/).

    lease: SLOTS_PER_GRADING sandbox uid slots held by the caller (a batch leases for all its
    jobs); by default this grading leases its own and reports any wait through `on_wait`.
    sandbox_public: run the public tests in a sandbox worker; by default whenever the run is
    graded or `impl` is not the kit's own assignments folder.
    """
    if lease is None:
        with default_pool().lease(SLOTS_PER_GRADING, wait_report=on_wait) as own:
            return grade(impl, targets, cfg=cfg, hidden=hidden, public=public, hidden_dir=hidden_dir,
                         public_dir=public_dir, loaders=loaders, lease=own, sandbox_public=sandbox_public)
    if len(lease.slots) < SLOTS_PER_GRADING:
        raise ValueError(f"grade() needs {SLOTS_PER_GRADING} sandbox slots, the lease holds {lease.slots}")
    start = time.perf_counter()
    slots = sorted(lease.slots)
    ctx = base_context(impl, cfg)
    public_files = _test_files(public_dir or public_tests_dir(), targets.modules, False) if public else []
    hidden_files = _test_files(hidden_dir or hidden_tests_dir(), targets.modules, targets.milestone) if hidden else []
    shards = [tuple(hidden_files[i::HIDDEN_SESSIONS]) for i in range(HIDDEN_SESSIONS)]
    sandbox = sandbox_public if sandbox_public is not None else (hidden or not _is_own_checkout(impl))
    jobs: list[Any] = []
    with ThreadPoolExecutor(max_workers=2 + HIDDEN_SESSIONS) as pool:
        if public_files:
            spec = SessionSpec("public tests", tuple(public_files), Source.PUBLIC, cfg.public_timeout_seconds,
                               cfg.public_session_seconds, cfg.sandbox.probe_memory_mb)
            jobs.append(pool.submit(run_session, spec, _with_slot(ctx, slots[0]), sandboxed=sandbox))
        for i, shard in enumerate(s for s in shards if s):
            name = "hidden tests" if len([s for s in shards if s]) == 1 else f"hidden tests ({i + 1} of {HIDDEN_SESSIONS})"
            spec = SessionSpec(name, shard, Source.HIDDEN, cfg.hidden_timeout_seconds, cfg.hidden_session_seconds)
            jobs.append(pool.submit(run_session, spec, _with_slot(ctx, slots[2 + i]),
                                    handoff=lease.handoff(slots[2 + i])))
        milestone_job = None
        if targets.milestone:
            milestone_job = pool.submit(score_milestone, impl, cfg, loaders or default_loaders(), uid_slot=slots[1])
        rows: list[Row] = [row for job in jobs for row in job.result()]
        runs: dict[str, MilestoneRun] = {}
        if milestone_job is not None:
            milestone_rows, runs = milestone_job.result()
            rows.extend(milestone_rows)
    rows.sort(key=lambda r: _order(r, cfg))
    return GradeReport(impl, targets, hidden, rows, time.perf_counter() - start,
                       max_points(cfg, targets) if hidden else 0.0, runs, lease.waited_seconds)


def _with_slot(ctx: GradingContext, slot: int) -> GradingContext:
    from dataclasses import replace
    return replace(ctx, uid_slot=slot)


def _order(row: Row, cfg: Config) -> tuple[int, int, int]:
    kind = row.section.kind
    position = list(cfg.modules).index(row.section.key) if kind is SectionKind.MODULE else len(cfg.modules)
    group = {SectionKind.MODULE: 0, SectionKind.MILESTONE: 1, SectionKind.SESSION: 2}[kind]
    source = {Source.PUBLIC: 0, Source.HIDDEN: 1, Source.MILESTONE: 2, Source.SESSION: 3}[row.source]
    return (group, position, source)
