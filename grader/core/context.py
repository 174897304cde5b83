"""The grading context: what one test session needs to know, written once as JSON.

    ctx = GradingContext(impl="/srv/sub/alice", course=course, source=Source.HIDDEN, uid_slot=3, ...)
    ctx.write(path)                       # the grader, before it starts pytest
    pytest ... --grader-context path      # the plugin reads it at configure time
    context.current()                     # the plugin's context, for hidden tests' probes

It replaces scattered environment variables: the implementation under test, the course
(modules and prerequisites), the sandbox slot and limits, and the session's deadline all
travel in this one object. Standard library only.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.core.course import Course
from grader.core.outcomes import Source


@dataclass(frozen=True)
class ProbeLimits:
    """Limits of one hidden-test probe (see the `sandbox:` section of the config)."""

    wall_seconds: float = 30.0
    memory_mb: int = 1536
    file_size_mb: int = 64
    processes: int = 64


@dataclass(frozen=True)
class GradingContext:
    impl: str                               # the folder that holds the tinytorch/ under test
    course: Course
    source: Source = Source.PUBLIC          # how the plugin labels its rows
    uid_slot: int | None = None             # the sandbox slot this session's probes use (leased by the grader)
    probe_limits: ProbeLimits = field(default_factory=ProbeLimits)
    deadline: float | None = None           # time.time() of the grader's hard kill of this session
    soft_deadline: float | None = None      # no test starts after this time.time()
    config_path: str = ""                   # the grader config this grading uses (`grader check --config`)
    workspace_dir: str = ""                 # where probes make their temp dirs ("" = the system's temp dir)

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()

    def to_json(self) -> str:
        data = asdict(self)
        data["course"] = self.course.to_dict()
        data["source"] = self.source.value
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> "GradingContext":
        data = json.loads(text)
        return cls(impl=str(data["impl"]), course=Course.from_dict(data["course"]), source=Source(data["source"]),
                   uid_slot=data.get("uid_slot"), probe_limits=ProbeLimits(**data.get("probe_limits", {})),
                   deadline=data.get("deadline"), soft_deadline=data.get("soft_deadline"),
                   config_path=str(data.get("config_path") or ""),
                   workspace_dir=str(data.get("workspace_dir") or ""))

    def write(self, path: Path) -> Path:
        path.write_text(self.to_json())
        return path


_current: GradingContext | None = None


def set_current(ctx: GradingContext | None) -> None:
    global _current
    _current = ctx


def current() -> GradingContext:
    """The context of the running test session (set by the grader's pytest plugin)."""
    if _current is None:
        raise RuntimeError("no grading context: hidden tests run through `grader check --hidden`, "
                           "which starts pytest with the grader's plugin and --grader-context")
    return _current
