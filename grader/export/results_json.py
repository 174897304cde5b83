"""Gradescope's `results.json` from a GradeReport.

Schema (Gradescope autograder specification): top-level `score`, `execution_time`, `output`,
`tests[]` each with `name`, `score`, `max_score`, `status` ("passed"/"failed"), `visibility`,
`output`; milestone metrics go in `extra_data`. Ungraded public tests carry no score fields.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.engine.grade import GradeReport
from grader.core.rows import PASSED


def results_json(report: GradeReport) -> dict[str, Any]:
    graded_only = report.hidden
    tests = []
    for i, row in enumerate(report.rows):
        if graded_only and row.points is None:
            continue
        entry: dict[str, Any] = {
            "name": f"Module {row.module} · {row.title}" if row.module[:1].isdigit() else f"Milestone 03 · {row.title}",
            "number": f"{row.module}.{i + 1}",
            "status": "passed" if row.outcome == PASSED else "failed",
            "visibility": row.visibility,
            "output": row.reason or ("passed" if row.outcome == PASSED else row.outcome.replace("_", " ")),
        }
        if row.points is not None:
            entry["score"] = row.earned
            entry["max_score"] = row.points
        tests.append(entry)
    extra = {key: run.metrics or {"status": run.status, "message": run.message}
             for key, run in report.milestone_runs.items()}
    return {
        "score": round(report.score, 4),
        "execution_time": round(report.seconds, 2),
        "output": f"{report.score:g} / {report.max_score:g} points ({report.targets.label})",
        "tests": tests,
        "extra_data": {"milestone03": extra} if extra else {},
    }


def write_results_json(report: GradeReport, path: Path) -> None:
    path.write_text(json.dumps(results_json(report), indent=2))
