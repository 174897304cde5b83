"""Gradescope's `results.json` from a GradeReport.

Schema (Gradescope autograder specification): top-level `score`, `execution_time`, `output`,
`tests[]` each with `name`, `number`, `score`, `max_score`, `status`, `visibility`, `output`;
milestone metrics go in `extra_data`. A grading session that failed (deadline, crash) becomes a
visible zero-point "grading error" test, so the student always sees why; the maximum score in
`output` comes from the config. The JSON is strict: no NaN or infinity anywhere.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from grader.core.outcomes import Outcome, Source
from grader.core.rows import Row, SectionKind
from grader.engine.grade import GradeReport


def _name(row: Row) -> str:
    if row.section.kind is SectionKind.MODULE:
        return f"Module {row.section.key} · {row.title}"
    if row.section.kind is SectionKind.MILESTONE:
        return f"Milestone 03 · {row.title}"
    return f"Grading error · {row.title}"


def _finite(value: Any) -> Any:
    """Replace non-finite floats (anywhere in plain data) by their names as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def results_json(report: GradeReport) -> dict[str, Any]:
    tests = []
    numbers: dict[str, int] = {}
    for row in report.rows:
        if report.hidden and row.points is None and row.source is not Source.SESSION:
            continue  # a graded export lists graded checks and grading errors only
        key = row.section.key if row.section.kind is SectionKind.MODULE else (
            "9" if row.section.kind is SectionKind.MILESTONE else "99")
        numbers[key] = numbers.get(key, 0) + 1
        entry: dict[str, Any] = {
            "name": _name(row),
            "number": f"{int(key) if key.isdigit() else key}.{numbers[key]}",
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
    return _finite({
        "score": round(report.score, 4),
        "execution_time": round(report.seconds, 2),
        "output": f"{report.score:g} / {report.max_score:g} points ({report.targets.label}){note}",
        "tests": tests,
        "extra_data": {**({"milestone03": extra} if extra else {}),
                       "grading": {"seconds": round(report.seconds, 2),
                                   "waited_for_sandbox_slots_seconds": round(report.waited_seconds, 3)}},
    })


def write_results_json(report: GradeReport, path: Path) -> None:
    """Write atomically (a temporary file, then rename), as strict JSON."""
    text = json.dumps(results_json(report), indent=2, allow_nan=False, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=".results-", dir=str(path.parent or "."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
