"""One graded item (a test or a milestone criterion) and the rules that summarise many of them."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from grader.engine.pytest_plugin import ERROR, FAILED, NOT_STARTED, OUTCOMES, PASSED, SKIPPED, VISIBILITIES  # noqa: F401


@dataclass
class Row:
    """A graded item. `points` is None for an ungraded (public) test."""

    module: str                     # "01".."08" or "milestone03"
    title: str                      # student-facing: the test's first docstring line
    outcome: str                    # one of OUTCOMES
    reason: str = ""                # short, student-facing; empty when passed
    points: Optional[float] = None  # max points; None = not graded
    visibility: str = "visible"
    source: str = "public"          # "public" | "hidden" | "milestone"
    nodeid: str = ""
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def earned(self) -> float:
        return (self.points or 0.0) if self.outcome == PASSED else 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Row":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def read_rows(path: Path) -> list[Row]:
    return [Row.from_json(d) for d in json.loads(path.read_text())]


def all_passed(rows: Iterable[Row]) -> bool:
    """True when every row passed (skips count as not passed only when nothing else ran)."""
    rows = list(rows)
    return bool(rows) and all(r.outcome in (PASSED, SKIPPED) for r in rows) and any(r.outcome == PASSED for r in rows)
