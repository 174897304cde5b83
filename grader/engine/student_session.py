"""A student's own check: the public tests in a plain subprocess, with a student's limits.

    rows = run_student(spec, ctx, stop)     # spec.student: sessions.run_session sends it here

The process starts through `_student_session_main` (a memory limit, a stack dump on request,
tinytorch files that do not import replaced by stand-ins) and is watched by
`watchdog.watch_session`, which kills it at its deadline or when its results stop coming. Rows
that hit a limit say which one and where the student's code was (`_explained`); a file that
does not import gets one row under its own module.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.core.context import GradingContext
from grader.core.outcomes import Outcome, Source
from grader.core.rows import Row, Section, SessionLog
from grader.engine.sessions import (MAX_OUTPUT_CHARS, PARENT_ENV, THREAD_ENV, SessionSpec, _kill_group, _probes_tmpdir,
                                    _pytest_args, _read_log, _session_context, _session_rows, _stopped_row,
                                    _stuck_from_output, _tail)
from grader.engine.watchdog import GradingStop, kill_session, watch_session

_MEMORY_ERROR = re.compile(r"_?\w*MemoryError\b")      # MemoryError, NumPy's _ArrayMemoryError
MAX_BROKEN_FILES = 20
REPEATS = 2                     # a student's check: timeouts at one line before later tests get repeat_seconds
_TIMEOUT_SECONDS = re.compile(r"Timeout \(>([0-9.]+)s\)")


def run_student(spec: SessionSpec, ctx: GradingContext, stop: GradingStop) -> list[Row]:
    """A student's own check: pytest in a plain subprocess started by `_student_session_main`
    (memory limit, a stack on request, files that do not import), watched by `watch_session`."""
    with tempfile.TemporaryDirectory(prefix="grader-session-") as tmp, _probes_tmpdir() as probes_tmp:
        folder = Path(tmp)
        rows_path, context_path, output_path = folder / "rows.jsonl", folder / "context.json", folder / "output.txt"
        stack_path, broken_path = folder / "stack.txt", folder / "broken.jsonl"
        dataclasses.replace(_session_context(spec, ctx, ctx.impl), workspace_dir=probes_tmp).write(context_path)
        tests = spec.files[0].parent
        settings = {"memory_mb": spec.memory_mb, "stack_file": str(stack_path), "broken_file": str(broken_path),
                    "repeats": REPEATS, "repeat_seconds": spec.repeat_seconds}
        boot = inspect.getsource(_student_session_main) + "\n_student_session_main()\n"
        cmd = [sys.executable, "-P", "-c", boot, json.dumps(settings),
               *_pytest_args(spec, str(rows_path), str(context_path), [str(f) for f in spec.files]),
               "--rootdir", str(tests)]
        env = {**os.environ, **THREAD_ENV, "TINYTORCH_IMPL": ctx.impl, "PYTHONDONTWRITEBYTECODE": "1",
               PARENT_ENV: str(os.getpid())}
        started = time.monotonic()
        with open(output_path, "wb") as output:
            proc = subprocess.Popen(cmd, cwd=tests, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        with stop.process(proc.pid):
            try:
                ended = watch_session(proc, rows_path, hard_seconds=spec.hard_seconds,
                                      stall_seconds=spec.stall_seconds or spec.hard_seconds)
            except BaseException:
                kill_session(proc)
                raise
        _kill_group(proc.pid)
        seconds = time.monotonic() - started
        log = _read_log(rows_path, spec)
        timed_out = [r.location for r in log.rows if r.outcome is Outcome.TIMEOUT and r.location]
        log.stuck_at = (_stuck_from_output(_tail(stack_path, MAX_OUTPUT_CHARS)) or log.stuck_at
                        or (timed_out[-1] if timed_out else ""))
        text = _tail(output_path, MAX_OUTPUT_CHARS)
        broken = _broken_file_rows(broken_path, spec, ctx)
    rows = broken + [_explained(row, spec) for row in log.rows]
    if stop.reason:
        return rows + [_stopped_row(spec, log, stop.reason, seconds)]
    if ended == "stalled":
        return rows + [_stalled_row(spec, log, seconds)]
    return rows + _session_rows(spec, log, killed=ended == "deadline", exit_code=proc.returncode, output=text,
                                seconds=seconds)


def _student_session_main():  # the public-test process of a student's check: `python -P -c <this>`
    # sys.argv[1]: {"memory_mb", "stack_file", "broken_file", "repeats", "repeat_seconds"} (JSON); the
    # rest: pytest's arguments.
    # Standard library only, and nothing forks. Set up before pytest starts:
    # - an address-space limit (Linux only: macOS does not enforce RLIMIT_AS, so it runs without);
    # - SIGUSR1 writes every thread's stack to stack_file: the grader asks before it kills;
    # - a tinytorch/*.py that raises while it is imported (a SyntaxError, a bad import) is written
    #   to broken_file once and stands in as a module whose every name raises ImportError when
    #   used, so `import tinytorch` still works and only the tests that need that file fail;
    # - once `repeats` tests timed out at the same line of tinytorch/ (the same loop), every later
    #   test gets `repeat_seconds` (pytest-timeout's marker), so a loop many tests meet costs less.
    import faulthandler
    import importlib.abc
    import importlib.machinery
    import json
    import signal
    import sys
    settings = json.loads(sys.argv[1])
    if sys.platform.startswith("linux") and settings["memory_mb"]:
        import resource
        limit = int(settings["memory_mb"]) * 1024 * 1024
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    stack = open(settings["stack_file"], "w")
    faulthandler.register(signal.SIGUSR1, file=stack, all_threads=True)

    def stand_in(module_name, name, file):
        message = f"{file} could not be imported (its error is shown once, under its module), so {name} is missing"

        class Missing(type):
            def __call__(cls, *args, **kwargs):
                raise ImportError(message)

            def __getattr__(cls, attr):
                if attr.startswith("_"):
                    raise AttributeError(attr)
                raise ImportError(message)
        return Missing(name, (), {"__module__": module_name})

    def where(exc, path):
        if isinstance(exc, SyntaxError) and exc.filename == path:
            return exc.lineno or 0, ""
        line, function, tb = 0, "", exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == path:
                line, function = tb.tb_lineno, tb.tb_frame.f_code.co_name
            tb = tb.tb_next
        return line, function

    class Loader(importlib.abc.Loader):
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def create_module(self, spec):
            return self.inner.create_module(spec)

        def exec_module(self, module):
            try:
                self.inner.exec_module(module)
            except Exception as exc:
                path = module.__file__
                file = "tinytorch/" + path.replace("\\", "/").rsplit("/", 1)[-1]
                line, function = where(exc, path)
                error = f"SyntaxError: {exc.msg}" if isinstance(exc, SyntaxError) else f"{type(exc).__name__}: {exc}"
                with open(settings["broken_file"], "a") as out:
                    out.write(json.dumps({"file": file, "line": line, "function": function, "error": error[:300]}) + "\n")

                def missing(name):
                    if name.startswith("__"):
                        raise AttributeError(name)
                    return stand_in(module.__name__, name, file)
                module.__getattr__ = missing

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if not name.startswith("tinytorch.") or name.count(".") != 1:
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and isinstance(spec.loader, importlib.machinery.SourceFileLoader):
                spec.loader = Loader(spec.loader)
            return spec
    sys.meta_path.insert(0, Finder())
    import pytest

    class Repeats:
        def __init__(self):
            self.seen = {}

        @pytest.hookimpl(hookwrapper=True, tryfirst=True)
        def pytest_runtest_protocol(self, item, nextitem):
            if settings["repeat_seconds"] and max(self.seen.values(), default=0) >= settings["repeats"]:
                item.add_marker(pytest.mark.timeout(settings["repeat_seconds"]))
            yield

        def pytest_runtest_logreport(self, report):
            row = getattr(report, "grader_row", None)      # set by grader.engine.pytest_plugin
            if row is not None and row.outcome.value == "timeout" and row.location:
                self.seen[row.location] = self.seen.get(row.location, 0) + 1
    args = sys.argv[2:]
    sys.argv = ["pytest", *args]
    raise SystemExit(int(pytest.main(args, plugins=[Repeats()])))


def _broken_file_rows(path: Path, spec: SessionSpec, ctx: GradingContext) -> list[Row]:
    """One row per tinytorch file that did not import, under its module, naming its line."""
    rows: list[Row] = []
    seen: set[str] = set()
    for line in _tail(path, 64 * 1024).splitlines()[:MAX_BROKEN_FILES]:
        try:
            raw = json.loads(line)
        except ValueError:
            continue
        if type(raw) is not dict or type(raw.get("file")) is not str or raw["file"] in seen:
            continue
        file, number = raw["file"], raw.get("line")
        seen.add(file)
        stem = file.removeprefix("tinytorch/").removesuffix(".py")
        module = next((n for n, info in ctx.course.modules.items() if info.name == stem), None)
        function = raw.get("function") if type(raw.get("function")) is str else ""
        where = f"{file}:{number}" if type(number) is int and number > 0 else file
        where += f" in {function}" if function and function != "<module>" else ""
        error = raw.get("error") if type(raw.get("error")) is str else "it raised an error"
        rows.append(Row(Section.module(module) if module else Section.session(spec.name), f"{file} does not import",
                        Outcome.ERROR, f"{error} at {where}: fix this first; until then every test that needs "
                        f"{file} fails, the others still run", source=spec.source, location=where))
    return rows


def _explained(row: Row, spec: SessionSpec) -> Row:
    """A student's row that hit a limit of the check says which one, and where the code was."""
    at = f" at {row.location}" if row.location else ""
    if row.outcome is Outcome.TIMEOUT and "pytest-timeout" in row.reason:
        found = _TIMEOUT_SECONDS.search(row.reason)
        limit = float(found.group(1)) if found else spec.per_test_seconds
        which = (f"its limit after {REPEATS} tests timed out at the same line" if limit < spec.per_test_seconds
                 else "the limit for one test of `grader check`")
        return dataclasses.replace(row, reason=f"still running after {limit:g} s, {which}{at}: look for a loop that "
                                   f"never ends (the reference needs well under a second)")
    if row.outcome in (Outcome.FAILED, Outcome.ERROR) and _MEMORY_ERROR.match(row.reason):
        return dataclasses.replace(row, reason=f"used more than {spec.memory_mb} MB, the memory limit of "
                                   f"`grader check`{at}: look for a list or array that keeps growing")
    return row


def _stalled_row(spec: SessionSpec, log: SessionLog, seconds: float) -> Row:
    """The session row of a student's session killed because its results stopped coming."""
    where = f" at {log.stuck_at}" if log.stuck_at else ""
    unrun = max(0, (log.collected or 0) - len([r for r in log.rows if "::" in r.nodeid]))
    if log.running:
        what = (f"{log.running} was still running{where} {spec.stall_seconds:g} s after the last result, past its "
                f"{spec.per_test_seconds:g} s limit (code that catches every exception, even the time limit's); "
                f"{len(log.rows)} finished results are kept, {unrun} tests did not finish")
    else:
        what = f"no test started within {spec.stall_seconds:g} s: importing tinytorch hangs{where}"
    return Row(Section.session(spec.name), f"{spec.name} stopped: no result for {spec.stall_seconds:g} s",
               Outcome.TIMEOUT, f"{what}. Look for a loop that never ends.", source=Source.SESSION,
               location=log.stuck_at, seconds=seconds)
