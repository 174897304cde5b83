"""pytest plugin that records every test as a grader `Row` (`-p grader.engine.pytest_plugin`).

Markers: `@pytest.mark.points(2)`, `@pytest.mark.visibility("hidden")` (Gradescope's words:
visible, hidden, after_due_date, after_published). The test's first docstring line is its
title. The module is read from the file name (`test_06_autograd.py` -> "06").
A failure caused by NotImplementedError (or the harness's NotStarted) is "not started",
reported without a traceback. `--grader-rows FILE` writes the rows as JSON at session end.

Self-contained (pytest and the standard library only), so graded runs can load a copy of it
inside a sandbox worker for the public tests; `grader.core.rows.Row` reads its rows.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Generator, Optional

import pytest

PASSED, FAILED, NOT_STARTED, SKIPPED, ERROR = "passed", "failed", "not_started", "skipped", "error"
OUTCOMES = (PASSED, FAILED, NOT_STARTED, SKIPPED, ERROR)
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")

_MODULE_RE = re.compile(r"test_(\d\d|milestone\d\d)")
_ROWS_KEY = pytest.StashKey[list]()
Row = dict  # field names as in grader.core.rows.Row
MAX_REASON = 400


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader")
    group.addoption("--grader-rows", default=None, help="write one JSON row per test to this file")
    group.addoption("--grader-source", default="public", help="label rows as public or hidden")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): points this test is worth")
    config.addinivalue_line("markers", "visibility(v): visible | hidden | after_due_date | after_published")
    config.stash[_ROWS_KEY] = []


def _module_of(path: str) -> str:
    m = _MODULE_RE.search(Path(path).name)
    return m.group(1) if m else "??"


def _title(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    title = first or getattr(item, "originalname", item.name).replace("test_", "", 1).replace("_", " ")
    callspec = getattr(item, "callspec", None)
    return f"{title} [{callspec.id}]" if callspec is not None else title


def _points(item: pytest.Item) -> Optional[float]:
    mark = item.get_closest_marker("points")
    return float(mark.args[0]) if mark and mark.args else None


def _visibility(item: pytest.Item) -> str:
    mark = item.get_closest_marker("visibility")
    value = str(mark.args[0]) if mark and mark.args else "visible"
    if value not in VISIBILITIES:
        raise pytest.UsageError(f"{item.nodeid}: visibility {value!r} is not one of {VISIBILITIES}")
    return value


def _is_not_started(exc: BaseException) -> bool:
    return isinstance(exc, NotImplementedError) or type(exc).__name__ == "NotStarted"


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, AssertionError):
        text = text.split("\nassert ")[0]  # drop pytest's expression introspection
    elif not text.startswith(type(exc).__name__):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    rows: list[Row] = item.config.stash[_ROWS_KEY]
    source = item.config.getoption("--grader-source")
    base = dict(module=_module_of(str(item.fspath)), title=_title(item), points=_points(item),
                visibility=_visibility(item), source=source, nodeid=item.nodeid)
    metrics = {k[len("metric:"):]: v for k, v in item.user_properties if isinstance(k, str) and k.startswith("metric:")}
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.passed:
            rows.append(Row(outcome=PASSED, reason="", seconds=report.duration, metrics=metrics, **base))
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            rows.append(Row(outcome=SKIPPED, reason=_strip_skip(reason), seconds=0.0, metrics=metrics, **base))
        elif call.excinfo is not None:
            exc = call.excinfo.value
            kind = NOT_STARTED if _is_not_started(exc) else (FAILED if report.when == "call" else ERROR)
            reason = _short(exc)
            if kind == NOT_STARTED and not reason.lower().startswith("not started"):
                reason = f"not started: {reason.removeprefix('NotImplementedError: ')}"
            if kind == NOT_STARTED:
                report.longrepr = reason
            rows.append(Row(outcome=kind, reason=reason, seconds=report.duration, metrics=metrics, **base))


def _strip_skip(reason: str) -> str:
    return reason.removeprefix("Skipped: ").strip()


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A test file that fails to import becomes an ERROR row (kept until the session ends)."""
    if report.failed:
        text = str(report.longrepr).strip().splitlines()
        reason = text[-1] if text else "collection failed"
        _COLLECT_ERRORS.append(Row(module=_module_of(report.nodeid), title=f"collecting {report.nodeid}",
                                   outcome=ERROR, reason=reason[:MAX_REASON], nodeid=report.nodeid,
                                   points=None, visibility="visible"))


_COLLECT_ERRORS: list[Row] = []  # this hook gets no config to stash them on; one session per process


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--grader-rows")
    if path:
        source = session.config.getoption("--grader-source")
        for row in _COLLECT_ERRORS:
            row["source"] = source
        Path(path).write_text(json.dumps(session.config.stash[_ROWS_KEY] + _COLLECT_ERRORS))
