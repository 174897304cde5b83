"""summary.md and summary.json: the class at a glance.

    data = build_summary(manifest, records)      # plain data: counts, distribution, pass rates, errors
    write_summary(out, data)

What an instructor asks first: how many were graded and how many need a look (by status),
the score distribution (ten bins of the maximum, with mean, median, min and max), the pass
rate of every graded test across the class (hardest first: where teaching should go), the
slowest gradings, and every problem: rejected inputs, grading errors, timeouts, duplicate
student ids, skipped inputs and submissions that have no result yet.
"""
from __future__ import annotations

import statistics
from typing import Any

from grader.batch.outputs import atomic_write, write_json
from grader.batch.resume import GRADED, STATUSES
from grader.core.rows import safe_text

BINS = 10
SLOWEST = 10


def _distribution(scores: list[float], maximum: float) -> dict[str, Any]:
    if not scores or maximum <= 0:
        return {"count": len(scores), "bins": []}
    counts = [0] * BINS
    for s in scores:
        counts[min(BINS - 1, int(BINS * s / maximum))] += 1
    width = maximum / BINS
    bins = [{"from": round(i * width, 4), "to": round((i + 1) * width, 4), "count": c} for i, c in enumerate(counts)]
    return {"count": len(scores), "mean": round(statistics.fmean(scores), 3), "median": statistics.median(scores),
            "min": min(scores), "max": max(scores), "bins": bins}


def _test_name(row: dict[str, Any]) -> str:
    kind, key = row["section"]
    prefix = f"Module {key}" if kind == "module" else "Milestone 03"
    return f"{prefix} · {row['title']}"


def build_summary(manifest: dict[str, Any], records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    units = manifest["units"]
    by_status = {s: 0 for s in STATUSES}
    graded_scores: list[float] = []
    tests: dict[str, dict[str, Any]] = {}
    problems: list[dict[str, str]] = []
    maximum = 0.0
    for unit in units:
        record = records.get(unit["key"])
        ids = ", ".join(s["id"] for s in unit["students"])
        if record is None:
            problems.append({"submission": unit["key"], "students": ids, "status": "not graded",
                             "reason": "no result yet (the run was stopped, or its shard has not finished)"})
            continue
        by_status[record["status"]] = by_status.get(record["status"], 0) + 1
        maximum = max(maximum, float(record.get("max_score") or 0.0))
        if record["status"] != GRADED:
            problems.append({"submission": unit["key"], "students": ids, "status": record["status"],
                             "reason": safe_text(record.get("reason") or "", 300)})
        if record["status"] in (GRADED, "timeout"):
            graded_scores.append(float(record["score"]))
        if record["status"] == GRADED:
            for row in record.get("rows") or []:
                if row.get("points") is None:
                    continue
                entry = tests.setdefault(_test_name(row), {"test": _test_name(row), "passed": 0, "graded": 0,
                                                           "points": row["points"]})
                entry["graded"] += 1
                entry["passed"] += row["outcome"] == "passed"
        for note in unit.get("notes") or []:
            problems.append({"submission": unit["key"], "students": ids, "status": "note", "reason": note})
    noted = {p["reason"] for p in problems}
    for note in manifest.get("notes") or []:
        if note in noted:          # a duplicate id is noted on the graded submission already
            continue
        problems.append({"submission": "", "students": "", "status": "input", "reason": note})
    rates = sorted(({**t, "pass_rate": round(t["passed"] / t["graded"], 4)} for t in tests.values()),
                   key=lambda t: (t["pass_rate"], t["test"]))
    timed = sorted(((float(r.get("seconds") or 0.0), key) for key, r in records.items()), reverse=True)[:SLOWEST]
    return {"submissions": len(units), "students": sum(len(u["students"]) for u in units),
            "with_result": len(records), "by_status": by_status, "targets": manifest.get("targets_label", ""),
            "max_score": maximum, "distribution": _distribution(graded_scores, maximum), "tests": rates,
            "slowest": [{"submission": key, "seconds": s} for s, key in timed], "problems": problems}


def summary_markdown(data: dict[str, Any]) -> str:
    lines = ["# Batch grading summary", "",
             f"{data['submissions']} submissions from {data['students']} students (targets: {data['targets']}); "
             f"{data['with_result']} have a result.", "",
             "| status | submissions |", "| --- | --- |"]
    lines += [f"| {status} | {count} |" for status, count in data["by_status"].items()]
    missing = data["submissions"] - data["with_result"]
    if missing:
        lines.append(f"| not graded yet | {missing} |")
    dist = data["distribution"]
    lines += ["", "## Score distribution", ""]
    if dist.get("bins"):
        lines += [f"Graded: {dist['count']} · mean {dist['mean']:g} · median {dist['median']:g} · "
                  f"min {dist['min']:g} · max {dist['max']:g} (of {data['max_score']:g})", "",
                  "| points | submissions | |", "| --- | --- | --- |"]
        top = max(b["count"] for b in dist["bins"]) or 1
        for i, b in enumerate(dist["bins"]):
            close = "]" if i == len(dist["bins"]) - 1 else ")"
            lines.append(f"| [{b['from']:g}, {b['to']:g}{close} | {b['count']} | {'█' * round(20 * b['count'] / top)} |")
    else:
        lines.append("No graded submissions yet.")
    lines += ["", "## Pass rate per test (hardest first)", ""]
    if data["tests"]:
        lines += ["| test | passed | rate |", "| --- | --- | --- |"]
        lines += [f"| {_cell(t['test'])} | {t['passed']}/{t['graded']} | {t['pass_rate']:.0%} |" for t in data["tests"]]
    else:
        lines.append("No graded tests yet.")
    lines += ["", "## Slowest gradings", "", "| submission | seconds |", "| --- | --- |"]
    lines += [f"| {_cell(s['submission'])} | {s['seconds']:.1f} |" for s in data["slowest"]]
    lines += ["", f"## Problems ({len(data['problems'])})", ""]
    if data["problems"]:
        lines += ["| submission | students | status | reason |", "| --- | --- | --- | --- |"]
        lines += [f"| {_cell(p['submission'])} | {_cell(p['students'])} | {p['status']} | {_cell(p['reason'])} |"
                  for p in data["problems"]]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def _cell(text: Any) -> str:
    return safe_text(text, 400).replace("|", "\\|")


def write_summary(out: Any, data: dict[str, Any]) -> None:
    write_json(out / "summary.json", data)
    atomic_write(out / "summary.md", summary_markdown(data))
