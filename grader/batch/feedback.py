"""feedback.md: what one student may see of their grading.

    text = feedback_markdown(unit, record, cfg, after_due_date=False)

Shown: the score, every public test and every hidden test whose visibility is `visible`
(with `after_due_date` / `after_published` ones too once `after_due_date` is set), the points
per module with the number of hidden checks behind them, the milestone's measured values
against their thresholds, and what was graded: where the module files were found, which were
missing (graded as the untouched stub), what the submission held that was not graded, and any
duplicate submission. Hidden tests are counted, never named. Every piece of text that came
from a submission is made printable and cannot break out of its table cell.
"""
from __future__ import annotations

from typing import Any

from grader.batch.resume import GRADED, REJECTED
from grader.config import Config
from grader.core.rows import safe_text

MARK = {"passed": "✓ passed", "failed": "✗ failed", "not_started": "○ not started", "waiting": "… waiting",
        "error": "! error", "timeout": "⏱ timeout"}
SHOWN_AFTER_DUE = ("after_due_date", "after_published")


def _cell(text: Any, limit: int = 300) -> str:
    return safe_text(text, limit).replace("|", "\\|").replace("`", "'")


def _shown(row: dict[str, Any], after_due_date: bool) -> bool:
    if row["source"] in ("public", "session", "milestone"):
        return True
    return row["visibility"] == "visible" or (after_due_date and row["visibility"] in SHOWN_AFTER_DUE)


def _points(row: dict[str, Any]) -> str:
    return "–" if row.get("points") is None else f"{row['earned']:g}/{row['points']:g}"


def _module_section(number: str, rows: list[dict[str, Any]], record: dict[str, Any], cfg: Config,
                    after_due_date: bool) -> list[str]:
    spec = cfg.modules[number]
    points = (record.get("modules") or {}).get(number, {"earned": 0.0, "points": spec.points})
    lines = [f"## Module {number} · {spec.title}: {points['earned']:g} / {points['points']:g} points", ""]
    shown = [r for r in rows if _shown(r, after_due_date)]
    hidden = [r for r in rows if not _shown(r, after_due_date)]
    if shown:
        lines += ["| check | result | points | details |", "| --- | --- | --- | --- |"]
        lines += [f"| {_cell(r['title'], 160)} | {MARK.get(r['outcome'], r['outcome'])} | {_points(r)} | "
                  f"{_cell(r['reason'])} |" for r in shown]
        lines.append("")
    if hidden:
        passed = sum(r["outcome"] == "passed" for r in hidden)
        earned = sum(r.get("earned") or 0.0 for r in hidden)
        total = sum(r.get("points") or 0.0 for r in hidden)
        lines += [f"Hidden checks: {passed} of {len(hidden)} passed ({earned:g} / {total:g} points); "
                  "they are not listed.", ""]
    return lines


def _milestone_section(record: dict[str, Any], rows: list[dict[str, Any]], cfg: Config,
                       after_due_date: bool) -> list[str]:
    milestone = record.get("milestone") or {}
    lines = [f"## Milestone 03 · the MLP revival (1986): {milestone.get('earned', 0):g} / "
             f"{milestone.get('points', 0):g} points", "",
             "| dataset | test accuracy | needed | final training loss | needed | training time |",
             "| --- | --- | --- | --- | --- | --- |"]
    for key, spec in cfg.milestone.items():
        m = (record.get("metrics") or {}).get(key)
        if not m:
            continue
        if m.get("status") != "ok":
            lines.append(f"| {spec.title} | – | ≥ {spec.min_test_accuracy:.0%} | – | < {spec.max_train_loss:g} | "
                         f"did not finish: {_cell(m.get('message') or m.get('status'))} |")
            continue
        lines.append(f"| {spec.title} | {m['test_accuracy']:.2%} | ≥ {spec.min_test_accuracy:.0%} | "
                     f"{m['train_loss']:.4f} | < {spec.max_train_loss:g} | {m['train_seconds']:.1f} s |")
    lines.append("")
    other = [r for r in rows if r["section"][0] == "milestone" and r["source"] == "hidden"]
    if other:
        lines += _module_like("Milestone checks", other, after_due_date)
    return lines


def _module_like(heading: str, rows: list[dict[str, Any]], after_due_date: bool) -> list[str]:
    shown = [r for r in rows if _shown(r, after_due_date)]
    lines = [f"{heading}:", ""] if shown else []
    lines += [f"- {_cell(r['title'], 160)}: {MARK.get(r['outcome'], r['outcome'])} ({_points(r)})" for r in shown]
    hidden = len(rows) - len(shown)
    if hidden:
        lines.append(f"- {hidden} hidden check{'s' if hidden != 1 else ''}: "
                     f"{sum(r['outcome'] == 'passed' for r in rows if not _shown(r, after_due_date))} passed")
    return lines + [""]


def feedback_markdown(unit: dict[str, Any], record: dict[str, Any], cfg: Config, *,
                      after_due_date: bool = False) -> str:
    students = ", ".join(f"{s['name']} ({s['id']})" if s["name"] else s["id"] for s in unit["students"])
    lines = [f"# tinytorch · grading feedback for {_cell(students)}", ""]
    status = record["status"]
    lines += [f"**Score: {record['score']:g} / {record['max_score']:g} points**" +
              ("" if status == GRADED else f" · {status}"), ""]
    if record.get("reason"):
        lines += [f"> {_cell(record['reason'], 600)}", ""]
    if status == REJECTED:
        lines += ["Your submission could not be read, so nothing in it was graded. Upload the folder that holds "
                  "`tinytorch/` (or the eight module files themselves) and ask your instructor to grade it again.", ""]
    rows = record.get("rows") or []
    problems = [r for r in rows if r["section"][0] == "session" and status != REJECTED]
    if problems:
        lines += ["## Grading problems", ""]
        lines += [f"- {_cell(r['section'][1], 60)}: {_cell(r['title'], 160)} ({_cell(r['reason'])})" for r in problems]
        lines.append("")
    for number in (record.get("modules") or {}) if status != REJECTED else ():
        module_rows = [r for r in rows if r["section"] == ["module", number]]
        lines += _module_section(number, module_rows, record, cfg, after_due_date)
    if record.get("milestone") and status != REJECTED:
        lines += _milestone_section(record, rows, cfg, after_due_date)
    lines += _what_was_graded(unit, record)
    return "\n".join(lines).rstrip() + "\n"


def _what_was_graded(unit: dict[str, Any], record: dict[str, Any]) -> list[str]:
    lines = ["## What was graded", "", f"- Submission: {_cell(unit['source'])}"]
    collected = record.get("collected") or {}
    if collected:
        lines.append(f"- Module files taken from: {_cell(collected.get('found_in', ''))} "
                     f"({', '.join(collected.get('files') or []) or 'none'}); the kit's own `__init__.py` and "
                     "helpers are used, whatever the submission held.")
        if collected.get("missing"):
            lines.append(f"- Missing, graded as the untouched stub: {', '.join(collected['missing'])}")
        ignored = collected.get("ignored") or []
        if ignored:
            more = collected.get("ignored_count", len(ignored)) - len(ignored)
            lines.append(f"- Not graded ({collected.get('ignored_count', len(ignored))} file(s)): "
                         + "; ".join(_cell(i, 120) for i in ignored) + (f"; and {more} more" if more > 0 else ""))
    for note in unit.get("notes") or []:
        lines.append(f"- Note: {_cell(note, 600)}")
    return lines + [""]
