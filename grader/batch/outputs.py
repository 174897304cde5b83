"""What a batch writes, always atomically (a temporary file, then rename):

    DIR/batch.json             the submissions found: ids, names, sources, notes (the manifest)
    DIR/<key>/results.json     Gradescope's schema (grader.export.results_json)
    DIR/<key>/record.json      this batch's own result, written last: status, points, rows, hash
    DIR/<key>/feedback.md      what the student may see (feedback.py)
    DIR/grades.csv             one row per student, rebuilt from batch.json and the records
    DIR/summary.md, summary.json   the class at a glance (summary.py)

A crash at any moment leaves each file either as it was or complete. `record.json` is the
"done" mark, so a submission whose record is missing is simply graded again.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from grader.batch.resume import FORMAT, GRADED, RECORD, TIMEOUT, ERROR, read_record
from grader.config import Config
from grader.core.atomic import write_atomically
from grader.core.outcomes import Outcome, Source
from grader.core.rows import Row, Section, SectionKind, safe_text
from grader.core.targets import Targets
from grader.engine.grade import GradeReport, max_points

MANIFEST = "batch.json"
CSV_NAME = "grades.csv"


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    write_atomically(path, text)


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False, sort_keys=False) + "\n")


# ------------------------------------------------------------------ one submission

def _status(report: GradeReport) -> tuple[str, str]:
    problems = report.session_errors
    if not problems:
        return GRADED, ""
    first = problems[0]
    status = TIMEOUT if all(r.outcome is Outcome.TIMEOUT for r in problems) else ERROR
    return status, safe_text(f"{first.section.key}: {first.title}" + (f" ({first.reason})" if first.reason else ""), 300)


def _row_json(row: Row) -> dict[str, Any]:
    return {"section": [row.section.kind.value, row.section.key], "title": row.title, "outcome": row.outcome.value,
            "reason": row.reason, "points": row.points, "earned": row.earned if row.points is not None else None,
            "visibility": row.visibility.value, "source": row.source.value}


def record_from_report(report: GradeReport, spec: dict[str, Any], cfg: Config) -> dict[str, Any]:
    """The record of a finished grading (see the module docstring)."""
    status, reason = _status(report)
    modules = {m: {"earned": 0.0, "points": cfg.modules[m].points} for m in report.targets.modules}
    milestone = {"earned": 0.0, "points": 0.0}
    for row in report.graded_rows:
        if row.section.kind is SectionKind.MODULE and row.section.key in modules:
            modules[row.section.key]["earned"] += row.earned
        elif row.section.kind is SectionKind.MILESTONE:
            milestone["earned"] += row.earned
    if report.targets.milestone:
        milestone["points"] = max_points(cfg, Targets((), True))
    metrics = {}
    for key, run in report.milestone_runs.items():
        metrics[key] = {"status": run.status, "message": safe_text(run.message, 300),
                        "test_accuracy": run.test_accuracy, "train_loss": run.train_loss,
                        "train_seconds": round(run.train_seconds, 3)}
    return {"format": FORMAT, "key": spec["key"], "hash": spec["hash"], "settings": spec["settings"], "status": status, "reason": reason,
            "score": round(report.score, 4), "max_score": report.max_score, "modules": modules,
            "milestone": milestone if report.targets.milestone else None, "metrics": metrics,
            "seconds": round(report.seconds, 2), "waited_seconds": round(report.waited_seconds, 3),
            "rows": [_row_json(r) for r in report.rows], "collected": spec.get("collected")}


def problem_report(cfg: Config, targets: Targets, title: str, reason: str, outcome: Outcome,
                   seconds: float = 0.0) -> GradeReport:
    """A GradeReport with one grading-problem row (a rejected or stopped submission), so that
    results.json has Gradescope's schema and says why the score is 0."""
    row = Row(Section.session("submission"), title, outcome, safe_text(reason), source=Source.SESSION)
    return GradeReport(Path("."), targets, True, [row], seconds, max_points(cfg, targets))


def problem_record(spec: dict[str, Any], report: GradeReport, cfg: Config, status: str, reason: str) -> dict[str, Any]:
    """The record of a submission that was rejected or stopped before it had a grade."""
    record = record_from_report(report, spec, cfg)
    record.update(status=status, reason=safe_text(reason, 300))
    return record


def write_submission(out: Path, key: str, report: GradeReport, record: dict[str, Any]) -> None:
    """results.json, then record.json (the done mark) for one submission."""
    from grader.export.results_json import write_results_json
    folder = out / key
    folder.mkdir(parents=True, exist_ok=True)
    write_results_json(report, folder / "results.json")
    write_json(folder / RECORD, record)


# ------------------------------------------------------------------ the class

def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return ""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def csv_columns(manifest: dict[str, Any], cfg: Config) -> list[str]:
    modules, milestone = manifest["targets"]
    cols = ["id", "name", "email", "submission", "status", "reason", "total", "max"]
    cols += [f"{m} {cfg.modules[m].name}" for m in modules]
    if milestone:
        cols.append("milestone03")
        for key in cfg.milestone:
            cols += [f"{key} accuracy", f"{key} loss", f"{key} train seconds"]
    return cols + ["grading seconds", "source"]


def csv_rows(manifest: dict[str, Any], records: dict[str, dict[str, Any]], cfg: Config) -> list[dict[str, str]]:
    """One row per student of every unit that has a record, sorted by student id."""
    modules, milestone = manifest["targets"]
    rows = []
    for unit in manifest["units"]:
        record = records.get(unit["key"])
        if record is None:
            continue
        reason = record.get("reason") or "; ".join(unit["notes"] + _collect_notes(record))
        base = {"submission": unit["key"], "status": record["status"], "reason": safe_text(reason, 300),
                "total": _fmt(record["score"]), "max": _fmt(record["max_score"]),
                "grading seconds": _fmt(record.get("seconds"), 2), "source": unit["source"]}
        for m in modules:
            base[f"{m} {cfg.modules[m].name}"] = _fmt((record.get("modules") or {}).get(m, {}).get("earned", 0.0))
        if milestone:
            base["milestone03"] = _fmt((record.get("milestone") or {}).get("earned", 0.0))
            for key in cfg.milestone:
                m = (record.get("metrics") or {}).get(key, {})
                base[f"{key} accuracy"] = _fmt(m.get("test_accuracy"), 4)
                base[f"{key} loss"] = _fmt(m.get("train_loss"), 6)
                base[f"{key} train seconds"] = _fmt(m.get("train_seconds"), 2) if m else ""
        for student in unit["students"]:
            rows.append({"id": student["id"], "name": student["name"], "email": student["email"], **base})
    return sorted(rows, key=lambda r: (r["id"], r["submission"]))


def _collect_notes(record: dict[str, Any]) -> list[str]:
    collected = record.get("collected") or {}
    missing = collected.get("missing") or []
    return [f"missing {', '.join(missing)} (graded as the stub)"] if missing and record["status"] == GRADED else []


def write_csv(out: Path, manifest: dict[str, Any], records: dict[str, dict[str, Any]], cfg: Config) -> int:
    """DIR/grades.csv; returns the number of rows."""
    columns = csv_columns(manifest, cfg)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    rows = csv_rows(manifest, records, cfg)
    writer.writerows(rows)
    atomic_write(out / CSV_NAME, buffer.getvalue())
    return len(rows)


def read_records(out: Path, manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The records of the manifest's units that exist and match the manifest's settings."""
    found = {}
    for unit in manifest["units"]:
        record = read_record(out / unit["key"])
        if record is not None and record.get("settings") == manifest["settings"]:
            found[unit["key"]] = record
    return found


def read_manifest(out: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == FORMAT else None
