"""Gradescope's results.json, shaped for Gradescope's pages, built on `results_json(report)`.

    data = gradescope_results(report, cfg, sandbox=protections, submission=found)
    schema_problems(data)            # [] when it follows Gradescope's autograder specification
    data = mark_stopped(data, "the autograder's time limit (600 s) was reached")

On top of `results_json` (score, tests with module.index numbers, milestone metrics):
- `stdout_visibility: hidden`: the autograder's own stdout (which protections the sandbox had,
  timings) is for instructors only.
- every test gets `tags`: its module ("module 06", "autograd"), "milestone03" or "grading error".
- each module, and the milestone, gets one visible summary row ahead of its tests (number
  "6.0"): "Module 06 · Autograd: 11 of 14 points; failing: <titles>", titles only, so a
  student whose hidden tests are hidden still knows where points went. Summary rows carry no
  score; the top-level `score` is the grade.
- the top-level `output` lists points per module (HTML-escaped: Gradescope renders it as
  simple_format).
- `leaderboard`: the milestone's test accuracy per dataset (percent).
- parts of the grading not done yet (`pending`, e.g. the milestone while the modules' results
  are already written) get one visible row each, with `extra_data: {"pending": part}`;
  `mark_stopped` rewrites those rows when the grading never came back.
"""
from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from typing import Any

from grader.config import Config
from grader.core.outcomes import Outcome, Source, Visibility
from grader.core.rows import MILESTONE_KEY, Row, SectionKind
from grader.engine.grade import GradeReport
from grader.export.results_json import results_json

VISIBILITIES = frozenset(v.value for v in Visibility)
FORMATS = frozenset({"text", "simple_format", "html", "md", "ansi"})
TOP_KEYS = frozenset({"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
                      "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"})
TEST_KEYS = frozenset({"score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
                       "tags", "visibility", "extra_data"})
MODULES_PART, MILESTONE_PART = "modules", MILESTONE_KEY
MAX_FAILING_TITLES = 8
PENDING_TEXT = ("The autograder had not finished this part when these results were written. If this is the final "
                "result, grading stopped early (a time or memory limit): tell your instructor.")


def gradescope_results(report: GradeReport, cfg: Config, *, sandbox: dict[str, Any] | None = None,
                       submission: dict[str, Any] | None = None, pending: tuple[str, ...] = (),
                       summary_visibility: str = "visible", hidden_visibility: str | None = None) -> dict[str, Any]:
    """results.json for Gradescope from a graded report.

    report.max_score must be the whole assignment's (what `pending` parts are worth included).
    sandbox: which protections the sandbox had (extra_data, instructors only); submission: what
    the submission reader found. hidden_visibility: overrides the visibility the hidden tests'
    markers give their rows (None keeps them).
    """
    for name, value in (("summary_visibility", summary_visibility), ("hidden_visibility", hidden_visibility)):
        if value is not None and value not in VISIBILITIES:
            raise ValueError(f"{name} {value!r} is not one of {sorted(VISIBILITIES)}")
    base = results_json(report)
    rows = _rows_behind(report, base["tests"])
    for test, row in zip(base["tests"], rows):
        test["tags"] = _tags(test, row, cfg)
        if hidden_visibility and row is not None and row.source is Source.HIDDEN:
            test["visibility"] = hidden_visibility
    totals = _points(report, cfg)
    tests = _with_summaries(base["tests"], report, cfg, totals, pending, summary_visibility)
    if submission is not None:
        tests.insert(0, _submission_row(submission, len(cfg.modules)))
    extra = dict(base.get("extra_data", {}))
    extra["points"] = {key: {"earned": e, "max": m} for key, (e, m) in totals.items()}
    if sandbox is not None:
        extra["sandbox"] = sandbox
    if submission is not None:
        extra["submission"] = submission
    if pending:
        extra["pending"] = list(pending)
    if rows and None in rows:
        extra["rows_unmatched"] = True          # results_json changed its row filter: tags by number only
    return _finite({
        "score": base["score"],
        "execution_time": base.get("execution_time", 0.0),
        "output": _overview(report, cfg, totals, submission, pending),
        "output_format": "simple_format",
        "stdout_visibility": "hidden",
        "tests": tests,
        "leaderboard": _leaderboard(report, cfg),
        "extra_data": extra,
    })


def mark_stopped(data: dict[str, Any], reason: str) -> dict[str, Any]:
    """`data` (a results.json this module wrote) with every pending part marked as not graded
    because `reason`, and the reason at the top of the overview."""
    note = f"Grading stopped early: {reason}. Parts that were not graded score 0."
    for test in data.get("tests", []):
        part = (test.get("extra_data") or {}).get("pending")
        if part:
            test["status"] = "failed"
            test["output"] = f"Not graded: {reason}. This part scores 0; tell your instructor."
            test["name"] = test["name"].replace("not graded yet", "not graded")
    data["output"] = html.escape(note) + "\n\n" + data.get("output", "").replace("not graded yet", "not graded")
    data.setdefault("extra_data", {})["stopped"] = reason
    return data


# ---------------------------------------------------------------------------------- rows and tags
def _rows_behind(report: GradeReport, tests: list[dict[str, Any]]) -> list[Row | None]:
    """The report row behind each test of results_json (same filter, checked by name), or Nones."""
    kept = [r for r in report.rows if not (report.hidden and r.points is None and r.source is not Source.SESSION)]
    if len(kept) == len(tests) and all(str(t.get("name", "")).endswith(r.title) for t, r in zip(tests, kept)):
        return list(kept)
    return [None] * len(tests)


def _part_of(test: dict[str, Any]) -> str:
    """'06' for a module's test, MILESTONE_KEY, or 'error', from results_json's number."""
    head = str(test.get("number", "")).split(".")[0]
    if head == "9":
        return MILESTONE_KEY
    return head.zfill(2) if head.isdigit() and int(head) < 9 else "error"


def _tags(test: dict[str, Any], row: Row | None, cfg: Config) -> list[str]:
    """["module 06", "autograd", "hidden"], ["milestone03", ...] or ["grading error"]."""
    part = _part_of(test)
    if part in cfg.modules:
        tags = [f"module {part}", cfg.modules[part].name]
    else:
        tags = [MILESTONE_KEY] if part == MILESTONE_KEY else ["grading error"]
    if row is not None and row.source in (Source.HIDDEN, Source.PUBLIC):
        tags.append(row.source.value)
    return tags


# ------------------------------------------------------------------------------- points per part
def _points(report: GradeReport, cfg: Config) -> dict[str, tuple[float, float]]:
    """(earned, max) per module number and for MILESTONE_KEY; max from the config."""
    earned: dict[str, float] = defaultdict(float)
    for row in report.graded_rows:
        if row.section.kind is SectionKind.MODULE:
            earned[row.section.key] += row.earned
        elif row.section.kind is SectionKind.MILESTONE:
            earned[MILESTONE_KEY] += row.earned
    totals = {num: (min(earned[num], spec.points), spec.points) for num, spec in cfg.modules.items()}
    milestone_max = cfg.milestone_hidden_points + sum(s.accuracy_points + s.loss_points for s in cfg.milestone.values())
    totals[MILESTONE_KEY] = (min(earned[MILESTONE_KEY], milestone_max), milestone_max)
    return totals


def _failing(rows: list[Row]) -> list[str]:
    return [r.title for r in rows if r.graded and r.outcome is not Outcome.PASSED]


def _summary(label: str, earned: float, maximum: float, failing: list[str], pending: bool) -> tuple[str, str]:
    """(name, output) of a part's summary row: the points, and the failing checks' titles only."""
    if pending:
        return f"{label}: not graded yet", PENDING_TEXT
    name = f"{label}: {earned:g} of {maximum:g} points"
    if not failing:
        return name, "Every check of this part passed." if earned >= maximum else "No failing check was reported."
    shown = "\n".join(f"- {title}" for title in failing[:MAX_FAILING_TITLES])
    more = f"\n- and {len(failing) - MAX_FAILING_TITLES} more" if len(failing) > MAX_FAILING_TITLES else ""
    return name, f"failing ({len(failing)}):\n{shown}{more}"


def _with_summaries(tests: list[dict[str, Any]], report: GradeReport, cfg: Config,
                    totals: dict[str, tuple[float, float]], pending: tuple[str, ...],
                    visibility: str) -> list[dict[str, Any]]:
    """The tests with one summary row ahead of each part's own tests, in course order."""
    by_part: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for test in tests:
        by_part[_part_of(test)].append(test)
    rows_by_part: dict[str, list[Row]] = defaultdict(list)
    for row in report.rows:
        key = row.section.key if row.section.kind is SectionKind.MODULE else (
            MILESTONE_KEY if row.section.kind is SectionKind.MILESTONE else "error")
        rows_by_part[key].append(row)
    out: list[dict[str, Any]] = []
    for key, label, part in _parts(report, cfg, pending):
        earned, maximum = totals[key]
        is_pending = part in pending
        name, output = _summary(label, earned, maximum, _failing(rows_by_part[key]), is_pending)
        summary: dict[str, Any] = {"name": name, "number": f"{int(key)}.0" if key.isdigit() else "9.0",
                                   "status": "passed" if earned >= maximum and not is_pending else "failed",
                                   "visibility": visibility, "output": output,
                                   "tags": [f"module {key}", cfg.modules[key].name, "summary"] if key.isdigit()
                                   else [MILESTONE_KEY, "summary"]}
        if is_pending:
            summary["extra_data"] = {"pending": part}
        out.append(summary)
        out.extend(by_part.pop(key, []))
    for key in list(by_part):           # grading errors, and anything results_json numbered otherwise
        out.extend(by_part.pop(key))
    return out


def _parts(report: GradeReport, cfg: Config, pending: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(key, label, part) of every part graded or pending, in course order."""
    modules = cfg.modules if MODULES_PART in pending else report.targets.modules
    parts = [(num, f"Module {num} · {cfg.modules[num].title}", MODULES_PART) for num in cfg.modules if num in modules]
    if report.targets.milestone or MILESTONE_PART in pending:
        parts.append((MILESTONE_KEY, "Milestone 03 · the 1986 MLP", MILESTONE_PART))
    return parts


def _submission_row(submission: dict[str, Any], wanted: int) -> dict[str, Any]:
    """What was graded of the upload: a visible row, so a wrong upload explains a low score."""
    files, missing = list(submission.get("files", [])), list(submission.get("missing", []))
    if files:
        name = f"Submission: {len(files)} of {wanted} module files, from {submission.get('found_in', 'the upload')}"
    else:
        name = "Submission: no tinytorch module files found"
    lines = [f"graded: {', '.join(files)}" if files else "graded: nothing of yours"]
    if missing:
        lines.append(f"missing (graded as not started): {', '.join(missing)}")
    if submission.get("problem"):
        lines.append(f"problem: {submission['problem']}")
    ignored = list(submission.get("ignored", []))
    if ignored:
        count = int(submission.get("ignored_count", len(ignored)))
        lines.append(f"not graded ({count}): {', '.join(ignored[:12])}" + (" …" if count > 12 else ""))
    lines.append("Upload the eight module files (tensor.py … training.py), your tinytorch/ folder, or a zip of either.")
    return {"name": name, "number": "0.1", "status": "passed" if files and not missing else "failed",
            "visibility": "visible", "output": "\n".join(lines), "tags": ["submission"]}


# ------------------------------------------------------------------------------ overview, board
def _overview(report: GradeReport, cfg: Config, totals: dict[str, tuple[float, float]],
              submission: dict[str, Any] | None, pending: tuple[str, ...]) -> str:
    lines = [f"Score: {report.score:g} / {report.max_score:g}", ""]
    for key, label, part in _parts(report, cfg, pending):
        earned, maximum = totals[key]
        state = "not graded yet" if part in pending else f"{earned:g} / {maximum:g}"
        measured = "; ".join(f"{cfg.milestone[k].title} {run.test_accuracy:.2%}" for k, run in report.milestone_runs.items()
                             if k in cfg.milestone and run.test_accuracy is not None) if key == MILESTONE_KEY else ""
        lines.append(f"{label}: {state}" + (f" (test accuracy: {measured})" if measured else ""))
    if submission:
        lines += ["", f"Graded: {submission.get('found_in', 'your submission')}"
                      + (f"; missing (graded as not started): {', '.join(submission['missing'])}"
                         if submission.get("missing") else "")]
    errors = len(report.session_errors)
    if errors:
        lines += ["", f"{errors} grading problem{'s' if errors != 1 else ''}: see the rows marked 'Grading error'."]
    return html.escape("\n".join(lines), quote=False)


def _leaderboard(report: GradeReport, cfg: Config) -> list[dict[str, Any]]:
    board = []
    for key, spec in cfg.milestone.items():
        run = report.milestone_runs.get(key)
        value = run.test_accuracy if run is not None and run.test_accuracy is not None else 0.0
        board.append({"name": f"{spec.title} test accuracy (%)", "value": round(100 * value, 2), "order": "desc"})
    return board


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------- schema
def schema_problems(data: Any) -> list[str]:
    """What in `data` does not follow Gradescope's results.json specification ([] when valid)."""
    if not isinstance(data, dict):
        return ["results.json must be a JSON object"]
    problems = [f"unknown top-level key {k!r}" for k in data if k not in TOP_KEYS]
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        problems.append(f"not strict JSON: {exc}")
    tests = data.get("tests", [])
    if not isinstance(tests, list):
        return problems + ["tests must be a list"]
    if "score" not in data and not all(isinstance(t, dict) and "score" in t for t in tests):
        problems.append("a top-level score is required when a test has none")
    problems += _check_fields(data, "", {"score": _number, "execution_time": _number, "output": str,
                                         "output_format": FORMATS, "test_output_format": FORMATS,
                                         "test_name_format": FORMATS, "visibility": VISIBILITIES,
                                         "stdout_visibility": VISIBILITIES, "extra_data": dict})
    for i, test in enumerate(tests):
        if not isinstance(test, dict):
            problems.append(f"tests[{i}] must be an object")
            continue
        problems += [f"tests[{i}]: unknown key {k!r}" for k in test if k not in TEST_KEYS]
        problems += _check_fields(test, f"tests[{i}].", {"score": _number, "max_score": _number,
                                                         "status": frozenset({"passed", "failed"}), "name": str,
                                                         "name_format": FORMATS, "number": str, "output": str,
                                                         "output_format": FORMATS, "visibility": VISIBILITIES,
                                                         "extra_data": dict, "tags": _strings})
    board = data.get("leaderboard", [])
    if not isinstance(board, list):
        return problems + ["leaderboard must be a list"]
    for i, entry in enumerate(board):
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)
                and (_number(entry.get("value")) or isinstance(entry.get("value"), str))
                and entry.get("order", "desc") in ("asc", "desc") and set(entry) <= {"name", "value", "order"}):
            problems.append(f"leaderboard[{i}] must be {{name: str, value: number or str, order: asc|desc}}: {entry!r}")
    return problems


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_fields(obj: dict[str, Any], where: str, rules: dict[str, Any]) -> list[str]:
    problems = []
    for key, rule in rules.items():
        if key not in obj:
            continue
        value = obj[key]
        ok = (isinstance(value, rule) if isinstance(rule, type) else
              value in rule if isinstance(rule, frozenset) else rule(value))
        if not ok:
            problems.append(f"{where}{key}: {value!r} is not allowed here")
    return problems
