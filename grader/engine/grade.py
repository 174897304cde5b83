"""Grade one implementation: public tests, hidden tests and the milestone, combined into rows.

    report = grade(Path("assignments"), resolve_targets(["all"], cfg), cfg=cfg, hidden=True)

`grade` prints nothing, so `grader check`, batch grading and exporters share it. In a graded
run (`hidden=True`) student code runs only in sandbox workers: behind every hidden-test probe,
the milestone training and the public tests. Without hidden tests (a student checking their
own code) the public tests run in a plain pytest subprocess. Independent parts run concurrently.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from grader.config import Config
from grader.engine.milestone import MilestoneRun, score_milestone
from grader.engine.public_sandboxed import run_public_tests_sandboxed
from grader.engine.pytest_run import run_pytest
from grader.core.rows import Row
from grader.core.targets import MILESTONE, Targets
from grader.paths import hidden_tests_dir, public_tests_dir


@dataclass
class GradeReport:
    impl: Path
    targets: Targets
    hidden: bool
    rows: list[Row]
    seconds: float
    milestone_runs: dict[str, MilestoneRun] = field(default_factory=dict)

    @property
    def graded_rows(self) -> list[Row]:
        """Rows that carry points (hidden tests and milestone criteria)."""
        return [r for r in self.rows if r.points is not None]

    @property
    def score(self) -> float:
        return sum(r.earned for r in self.graded_rows)

    @property
    def max_score(self) -> float:
        return sum(r.points or 0.0 for r in self.graded_rows)


def _test_files(folder: Path, modules: tuple[str, ...], milestone: bool) -> list[Path]:
    wanted = list(modules) + ([MILESTONE] if milestone else [])
    return [f for key in wanted for f in sorted(folder.glob(f"test_{key}*.py"))]


def default_loaders() -> dict[str, Callable[[], object]]:
    from grader.datasets import load_mnist, load_tinydigits
    return {"tinydigits": load_tinydigits, "mnist": load_mnist}


def grade(impl: Path, targets: Targets, *, cfg: Config, hidden: bool, public: bool = True,
          hidden_dir: Optional[Path] = None, public_dir: Optional[Path] = None,
          loaders: Optional[dict[str, Callable[[], object]]] = None, slot_base: int = 0,
          workers: int = 2) -> GradeReport:
    """Run the checks `targets` asks for against the implementation in `impl` (holds tinytorch/)."""
    start = time.perf_counter()
    public_files = _test_files(public_dir or public_tests_dir(), targets.modules, False) if public else []
    hidden_files = _test_files(hidden_dir or hidden_tests_dir(), targets.modules, targets.milestone) if hidden else []
    # Hidden tests split into `workers` sessions (each with its own sandbox uid slot) for two cores.
    shards = [hidden_files[i::workers] for i in range(workers)] if hidden_files else []
    env = {"TINYTORCH_GRADER_CONFIG": str(cfg.path)}  # hidden tests read limits from the same config
    jobs = []
    with ThreadPoolExecutor(max_workers=2 + len(shards)) as pool:
        if public_files and hidden:  # graded run: no student code outside the sandbox
            jobs.append(pool.submit(run_public_tests_sandboxed, public_files, impl=impl,
                                    per_test_timeout=cfg.public_timeout_seconds,
                                    total_timeout=cfg.public_timeout_seconds * 4 + 60,
                                    memory_mb=cfg.sandbox.probe_memory_mb, uid_slot=slot_base))
        elif public_files:  # a student's own check of their own code
            jobs.append(pool.submit(run_pytest, public_files, impl=impl, source="public", module_of_files="public",
                                    per_test_timeout=cfg.public_timeout_seconds,
                                    total_timeout=cfg.public_timeout_seconds * 4 + 60, uid_slot=slot_base,
                                    extra_env=env))
        for i, shard in enumerate(s for s in shards if s):
            jobs.append(pool.submit(run_pytest, shard, impl=impl, source="hidden", module_of_files="hidden",
                                    per_test_timeout=cfg.hidden_timeout_seconds,
                                    total_timeout=cfg.hidden_timeout_seconds * 2, uid_slot=slot_base + 1 + i,
                                    extra_env=env))
        milestone_job = None
        if targets.milestone:
            milestone_job = pool.submit(score_milestone, impl, cfg, loaders or default_loaders(),
                                        uid_slot=slot_base + 1 + workers)
        rows: list[Row] = [row for job in jobs for row in job.result()]
        runs: dict[str, MilestoneRun] = {}
        if milestone_job is not None:
            milestone_rows, runs = milestone_job.result()
            rows.extend(milestone_rows)
    order = {num: i for i, num in enumerate(list(cfg.modules) + [MILESTONE])}
    rows.sort(key=lambda r: (order.get(r.module, 99), r.source != "public", r.source == "milestone"))
    return GradeReport(impl, targets, hidden, rows, time.perf_counter() - start, runs)
