"""pytest plugin: every test becomes a grader `Row`, classified by `grader.core.outcomes.classify`.

Loaded by the public tests' conftest (so plain `python -m pytest tests` classifies exactly as
`grader check`) and with `-p grader.engine.pytest_plugin` for the hidden tests.

- Markers: `@pytest.mark.points(2)`, `@pytest.mark.visibility("hidden")`; the first docstring
  line is the title; the module comes from the file name (`test_06_autograd.py` -> "06").
- A stub's NotImplementedError is "not started" (shown without a traceback), or "waiting"
  (shown as a skip) when it is a later module's, per the course's prerequisite graph.
- `--grader-context FILE`: the grading context (implementation, course, slot, deadline);
  without it the packaged config's course is used.
- `--grader-rows FILE`: one JSON line per started test and per result, flushed as it happens,
  so the rows that finished survive a session killed at its deadline.
- At the session's deadline (from the context) remaining tests are not started; shortly
  before the grader's hard kill, every thread's stack is dumped to stderr (faulthandler), so
  the grader can name the student code that was running.
- Started by the grader ($TINYTORCH_GRADER_PID, a hidden-test session): the session asks the
  kernel for SIGTERM when the grader dies, and on SIGTERM kills the sandbox workers of its
  probes and ends (temp dirs removed), so a killed grader leaves no session holding its
  sandbox slots.

Depends on pytest, the standard library and `grader.core` only, so a copy runs in the sandbox.
"""
from __future__ import annotations

import ctypes
import faulthandler
import json
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any, Generator

import pytest

from grader.core import context as grading_context
from grader.core.course import Course
from grader.core.outcomes import Outcome, Source, Verdict, Visibility, classify, parse_stub_message
from grader.core.rows import MAX_OUTPUT, Row, Section

_MODULE_RE = re.compile(r"test_(\d\d)_")
_MILESTONE_RE = re.compile(r"test_milestone\d\d")
DUMP_MARGIN_SECONDS = 5.0
PARENT_ENV = "TINYTORCH_GRADER_PID"     # set by grader.engine.sessions for the sessions it starts
_PR_SET_PDEATHSIG = 1
ENDING_GRACE_SECONDS = 5.0


class _State:
    def __init__(self, ctx: grading_context.GradingContext, rows_file: IO[str] | None) -> None:
        self.ctx = ctx
        self.rows_file = rows_file
        self.rows: list[Row] = []
        self.open_todos: Counter[str] = Counter()

    def write(self, record: dict[str, Any]) -> None:
        if self.rows_file is not None:
            self.rows_file.write(json.dumps(record) + "\n")
            self.rows_file.flush()


_STATE = pytest.StashKey[_State]()
_SESSION: _State | None = None  # one pytest session per process; logreport hooks get no config


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader")
    group.addoption("--grader-rows", default=None, help="append one JSON line per test result to this file")
    group.addoption("--grader-context", default=None, help="the grading context JSON written by the grader")


def _default_context() -> grading_context.GradingContext:
    from grader.config import load_config  # outside the sandbox only: needs PyYAML and the packaged config
    cfg = load_config()
    return grading_context.GradingContext(impl="", course=cfg.course)


def _die_with_the_grader(rows_path: str | None) -> None:
    """In a session the grader started: SIGTERM when the grader dies, and on SIGTERM end (see
    the module docstring). A no-op anywhere else (plain pytest, the sandboxed public tests)."""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit() or not sys.platform.startswith("linux"):
        return
    _ROWS_PATH.append(rows_path or "")
    signal.signal(signal.SIGTERM, _end_session)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if _grader_is_gone():               # the grader died before the prctl took effect
        _exit_now(128 + signal.SIGTERM)


_ENDING: list[int] = []
_ROWS_PATH: list[str] = []              # this session's --grader-rows, for _end_session


def _end_session(signum: int, _frame: object) -> None:
    """SIGTERM (the grader died, or its watchdog stops the grading): kill the sandbox workers
    this session's probes have in flight (as root, every process of the sandbox uids handed to
    it), then interrupt the session, so each probe cleans up its temp dirs on the way out.
    Exits hard after ENDING_GRACE_SECONDS whatever happens.

    The kernel may send the death signal twice: when the grader's thread that started this
    session dies (the grader still looks alive), and when its last thread does."""
    _clean_up_after_the_grader()
    if _ENDING:
        return
    _ENDING.append(signum)
    timer = threading.Timer(ENDING_GRACE_SECONDS, _exit_now, args=(128 + signum,))
    timer.daemon = True
    timer.start()
    cleanup = sys.modules.get("grader.sandbox.cleanup")
    privileges = sys.modules.get("grader.sandbox.privileges")
    if cleanup is not None:
        for pid in list(cleanup.IN_FLIGHT):
            cleanup.kill_group(pid)
        if privileges is not None and os.geteuid() == 0:
            for item in os.environ.get("TINYTORCH_SANDBOX_LEASE", "").split(","):
                slot = item.partition(":")[0]
                if slot.isdigit():
                    cleanup.kill_uid(privileges.sandbox_id(int(slot)))
    raise KeyboardInterrupt(f"grader: session ended by signal {signum}")


def _exit_now(code: int) -> None:
    _clean_up_after_the_grader()
    os._exit(code)


def _clean_up_after_the_grader() -> None:
    if _ROWS_PATH and _grader_is_gone():
        _remove_orphaned_session_dir(_ROWS_PATH[0])
        if _SESSION is not None:
            _remove_orphaned_session_dir(_SESSION.ctx.workspace_dir or None, prefix="grader-probes-")


def _grader_is_gone() -> bool:
    parent = os.environ.get(PARENT_ENV, "")
    return parent.isdigit() and os.getppid() != int(parent)


def _remove_orphaned_session_dir(path: str | None, *, prefix: str = "grader-session-") -> None:
    """After the grader died: remove a temp dir it made for this session, the one holding
    `path` (rows, context), or `path` itself (the probes' folder, with its prefix)."""
    if not path:
        return
    folder = Path(path).resolve()
    folder = folder if folder.name.startswith(prefix) else folder.parent
    if folder.name.startswith(prefix):
        cleanup = sys.modules.get("grader.sandbox.cleanup")   # loaded when probes ran: it removes what they chmod'ed
        if cleanup is not None:
            cleanup.remove_tree(folder)
        else:
            import shutil
            shutil.rmtree(folder, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    _die_with_the_grader(config.getoption("--grader-rows", None))
    config.addinivalue_line("markers", "points(n): points this test is worth")
    config.addinivalue_line("markers", "visibility(v): visible | hidden | after_due_date | after_published")
    path = config.getoption("--grader-context", None)
    ctx = grading_context.GradingContext.from_json(Path(path).read_text()) if path else _default_context()
    grading_context.set_current(ctx)
    rows_path = config.getoption("--grader-rows", None)
    rows_file = open(rows_path, "a", encoding="utf-8") if rows_path else None
    global _SESSION
    _SESSION = config.stash[_STATE] = _State(ctx, rows_file)
    remaining = ctx.remaining()
    if remaining is not None:  # just before the grader's hard kill, say where the code was stuck
        faulthandler.dump_traceback_later(max(1.0, remaining - DUMP_MARGIN_SECONDS), exit=False, file=sys.stderr)
        watchdog = threading.Timer(max(1.5, remaining - DUMP_MARGIN_SECONDS + 2), _report_stuck,
                                   args=(config.stash[_STATE], threading.main_thread().ident))
        watchdog.daemon = True
        watchdog.start()


def _report_stuck(state: _State, thread_id: int | None) -> None:
    """Name the innermost tinytorch/ frame of the main thread: 'tinytorch/data.py:42 in __iter__'."""
    frame = sys._current_frames().get(thread_id) if thread_id is not None else None
    where = ""
    while frame is not None:
        path = frame.f_code.co_filename.replace("\\", "/")
        if "/tinytorch/" in path:
            where = f"tinytorch/{path.rsplit('/tinytorch/', 1)[1]}:{frame.f_lineno} in {frame.f_code.co_name}"
            break
        frame = frame.f_back
    print(f"\ngrader: stuck at {where or 'a place outside tinytorch/'}", file=sys.stderr, flush=True)
    state.write({"kind": "stuck", "location": where})


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    faulthandler.cancel_dump_traceback_later()
    if state is not None and state.rows_file is not None:
        state.rows_file.close()
    if _ENDING:
        _clean_up_after_the_grader()


def section_of(path: str) -> Section:
    name = Path(path).name
    if _MILESTONE_RE.match(name):
        return Section.milestone()
    match = _MODULE_RE.match(name)
    return Section.module(match.group(1)) if match else Section.session(name)


def _title(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    title = first or getattr(item, "originalname", item.name).replace("test_", "", 1).replace("_", " ")
    callspec = getattr(item, "callspec", None)
    return f"{title} [{callspec.id}]" if callspec is not None else title


def _points(item: pytest.Item) -> float | None:
    mark = item.get_closest_marker("points")
    return float(mark.args[0]) if mark and mark.args else None


def _visibility(item: pytest.Item) -> Visibility:
    mark = item.get_closest_marker("visibility")
    value = str(mark.args[0]) if mark and mark.args else "visible"
    try:
        return Visibility(value)
    except ValueError:
        raise pytest.UsageError(f"{item.nodeid}: visibility {value!r} is not one of "
                                f"{[v.value for v in Visibility]}") from None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    state = item.config.stash[_STATE]
    remaining = state.ctx.remaining()
    if remaining is not None and state.ctx.soft_deadline is not None and time.time() > state.ctx.soft_deadline:
        item.session.shouldstop = "the session's time limit was reached"
    state.write({"kind": "start", "nodeid": item.nodeid})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if call.when not in ("setup", "call") or (call.when == "setup" and report.passed):
        return
    state = item.config.stash[_STATE]
    section = section_of(str(item.path))
    own = section.key if section.kind.value == "module" else None
    if report.skipped:  # an explicit pytest.skip: a check that does not apply, shown as waiting
        text = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        verdict = Verdict(Outcome.WAITING, text.removeprefix("Skipped: ").strip())
    else:
        exc = call.excinfo.value if call.excinfo is not None else None
        verdict = classify(exc, own_module=own, course=state.ctx.course, during_setup=call.when == "setup")
    if verdict.outcome is Outcome.WAITING and not report.skipped:
        lineno = (item.location[1] or 0) + 1
        report.outcome = "skipped"
        report.longrepr = (str(item.path), lineno, f"Skipped: {verdict.reason}")
    elif verdict.outcome is Outcome.NOT_STARTED:
        todo = parse_stub_message(verdict.reason.removeprefix("not started: "))
        report.longrepr = verdict.reason.replace("not started: ", "not implemented: ", 1)
        state.open_todos[str(todo) if todo else verdict.reason] += 1
    row = Row(section, _title(item), verdict.outcome, verdict.reason if verdict.outcome is not Outcome.PASSED else "",
              _points(item), _visibility(item), state.ctx.source, item.nodeid,
              report.duration if call.when == "call" else 0.0, verdict.location,
              {k[len("metric:"):]: v for k, v in item.user_properties
               if isinstance(k, str) and k.startswith("metric:")}, _printed(report, verdict.outcome, state.ctx.source))
    report.grader_row = row  # type: ignore[attr-defined]  # recorded in pytest_runtest_logreport


def _printed(report: pytest.TestReport, outcome: Outcome, source: Source) -> str:
    """What a failing public test printed (stdout, then stderr), for the student to see; the
    Row bounds it and shows escape sequences as text. Hidden tests' own output is never kept."""
    if source is not Source.PUBLIC or outcome not in (Outcome.FAILED, Outcome.ERROR, Outcome.TIMEOUT):
        return ""
    tails = [_TIMEOUT_DUMP.split(content[-2 * MAX_OUTPUT:], 1)[0]   # only a tail is kept: copy no more
             for name, content in report.sections if name.startswith("Captured std")]
    return "\n".join(tail for tail in tails if tail.strip())


# pytest-timeout's own stack dump at a timeout (the report names the student's line instead)
_TIMEOUT_DUMP = re.compile(r"^\++ Timeout \++$", re.MULTILINE)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Record the row `pytest_runtest_makereport` classified (one per test)."""
    row = getattr(report, "grader_row", None)
    if row is not None and _SESSION is not None:
        _SESSION.rows.append(row)
        _SESSION.write({"kind": "row", "row": row.to_json()})


def pytest_collection_finish(session: pytest.Session) -> None:
    if _SESSION is not None:
        _SESSION.write({"kind": "collected", "count": len(session.items)})


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A test file that fails to import becomes an ERROR row, naming the student file and line."""
    if not report.failed or _SESSION is None:
        return
    text = str(report.longrepr)
    where = _student_file_line(text)
    last = next((line.strip() for line in reversed(text.strip().splitlines()) if line.strip()), "collection failed")
    reason = f"{last.lstrip('E ').strip()}" + (f" (in {where})" if where and where not in last else "")
    row = Row(section_of(report.nodeid), f"collecting {Path(report.nodeid).name}", Outcome.ERROR, reason,
              None, Visibility.VISIBLE, _SESSION.ctx.source, report.nodeid, 0.0, where)
    _SESSION.rows.append(row)
    _SESSION.write({"kind": "row", "row": row.to_json()})


_FILE_LINE = re.compile(r'File "([^"]*tinytorch/[^"]+)", line (\d+)|([^\s:]*tinytorch/[^\s:]+\.py):(\d+)')


def _student_file_line(text: str) -> str:
    """'tinytorch/optim.py:12', the last place inside tinytorch/ a traceback or SyntaxError names."""
    found = ""
    for match in _FILE_LINE.finditer(text):
        path, line = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
        found = f"tinytorch/{path.replace(chr(92), '/').rsplit('tinytorch/', 1)[1]}:{line}"
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SESSION is not None:
        _SESSION.write({"kind": "finished", "exitstatus": int(exitstatus)})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the open TODOs that made tests fail, the earliest module first."""
    if _SESSION is None or not _SESSION.open_todos:
        return
    terminalreporter.section("not implemented yet")
    for message, count in sorted(_SESSION.open_todos.items()):
        terminalreporter.write_line(f"{message}  ({count} test{'s' if count != 1 else ''})")
