"""Gradescope's `results.json` from a GradeReport.

Schema (Gradescope autograder specification): top-level `score`, `execution_time`, `output`,
`tests[]` each with `name`, `number`, `score`, `max_score`, `status`, `visibility`, `output`;
milestone metrics go in `extra_data`. A grading session that failed (deadline, crash) becomes a
visible zero-point "grading error" test, so the student always sees why; the maximum score in
`output` comes from the config.

The JSON is strict and plain: written with `allow_nan=False`; a NaN or infinite number is
written as the string "nan", "inf" or "-inf" (what it is); every string is `safe_text` (valid
UTF-8, no control or escape characters); nesting, list lengths and integers are bounded.

`write_unfinished` writes the file a grading starts with: one "grading error: the grader did
not finish" test, replaced atomically by the real results when the grading ends, so that a
grader killed midway (SIGKILL, out of memory) still leaves a valid results.json.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from grader.core.atomic import write_atomically
from grader.core.outcomes import Outcome, Source
from grader.core.rows import Row, Section, SectionKind, safe_text
from grader.core.targets import Targets
from grader.engine.grade import GradeReport

MAX_DEPTH = 12              # of extra_data; results_json's own structure is 4 deep
MAX_ITEMS = 10_000          # entries of one list or dict
MAX_STRING = 20_000         # characters of one string (a row's text is at most 600)
MAX_INT = 2**53             # larger integers are written as text (JSON readers lose them)
UNFINISHED = "the grader did not finish"


def _name(row: Row) -> str:
    if row.section.kind is SectionKind.MODULE:
        return f"Module {row.section.key} · {row.title}"
    if row.section.kind is SectionKind.MILESTONE:
        return f"Milestone 03 · {row.title}"
    return f"Grading error · {row.title}"


def plain(value: Any, depth: int = 0) -> Any:
    """`value` as strict, plain JSON data (see the module docstring); never raises."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value) if -MAX_INT <= value <= MAX_INT else safe_text(value, 100)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else float.__repr__(value)
    if isinstance(value, str):
        return safe_text(value, MAX_STRING)
    if depth >= MAX_DEPTH:
        return "<nested too deeply>"
    if isinstance(value, dict):
        return {safe_text(key, 200): plain(item, depth + 1) for key, item in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, (list, tuple)):
        return [plain(item, depth + 1) for item in list(value)[:MAX_ITEMS]]
    return safe_text(value, 200)


def _number(key: str, kind: SectionKind) -> str:
    """'6' for module '06', '9' for the milestone, '99' for grading errors."""
    if kind is SectionKind.MODULE:
        return key.lstrip("0") or "0" if key.isascii() and key.isdigit() else "98"
    return "9" if kind is SectionKind.MILESTONE else "99"


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def results_json(report: GradeReport) -> dict[str, Any]:
    tests = []
    numbers: dict[str, int] = {}
    for row in report.rows:
        if report.hidden and row.points is None and row.source is not Source.SESSION:
            continue  # a graded export lists graded checks and grading errors only
        key = _number(row.section.key, row.section.kind)
        numbers[key] = numbers.get(key, 0) + 1
        entry: dict[str, Any] = {
            "name": _name(row),
            "number": f"{key}.{numbers[key]}",
            "status": "passed" if row.outcome is Outcome.PASSED else "failed",
            "visibility": "visible" if row.source is Source.SESSION else row.visibility.value,
            "output": row.reason or ("passed" if row.outcome is Outcome.PASSED else row.outcome.label),
        }
        if row.points is not None or row.source is Source.SESSION:
            entry["score"] = row.earned
            entry["max_score"] = row.points or 0.0
        tests.append(entry)
    extra = {key: run.metrics or {"status": run.status, "message": run.message}
             for key, run in report.milestone_runs.items()}
    errors = len(report.session_errors)
    note = f"; {errors} grading error{'s' if errors != 1 else ''}, see the tests marked 'Grading error'" if errors else ""
    score, seconds = _finite(report.score), _finite(report.seconds)
    return plain({
        "score": round(score, 4),
        "execution_time": round(seconds, 2),
        "output": f"{score:g} / {report.max_score:g} points ({report.targets.label}){note}",
        "tests": tests,
        "extra_data": {**({"milestone03": extra} if extra else {}),
                       "grading": {"seconds": round(seconds, 2),
                                   "waited_for_sandbox_slots_seconds": round(_finite(report.waited_seconds), 3)}},
    })


def write_results_json(report: GradeReport, path: Path) -> None:
    """Write atomically (a temporary file beside `path`, then rename), as strict JSON."""
    write_json(results_json(report), path)


def write_json(data: dict[str, Any], path: Path) -> None:
    """Write `data` to `path` atomically, as strict JSON (made plain first)."""
    write_atomically(path, json.dumps(plain(data), indent=2, allow_nan=False, ensure_ascii=False))


def error_report(impl: Path, targets: Targets, *, hidden: bool, max_score: float, reason: str,
                 rows: list[Row] | None = None, seconds: float = 0.0) -> GradeReport:
    """A report of `rows` (none by default) plus one visible, zero-point grading-error row
    titled "grading error: {reason}"."""
    row = Row(Section.session("grading"), f"grading error: {reason}", Outcome.ERROR,
              f"grading error: {reason}. The results that finished (if any) are kept; the rest score 0. "
              f"Tell your instructor.", source=Source.SESSION)
    return GradeReport(impl, targets, hidden, [*(rows or []), row], seconds, max_score if hidden else 0.0)


def write_unfinished(path: Path, impl: Path, targets: Targets, *, hidden: bool, max_score: float,
                     reason: str = UNFINISHED) -> None:
    """The results.json a grading starts with (see the module docstring)."""
    write_results_json(error_report(impl, targets, hidden=hidden, max_score=max_score, reason=reason), path)
