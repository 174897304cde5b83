"""Test sessions: run pytest on some test files and turn what happened into rows.

    spec = SessionSpec("public tests", files, Source.PUBLIC, per_test_seconds=120, session_seconds=540)
    rows = run_session(spec, ctx)                 # a plain subprocess: a student's own check
    rows = run_session(spec, ctx, sandboxed=True) # inside a sandbox worker: graded runs, previews

The rows that finished are always kept. When the session itself fails (its deadline passed,
it crashed, a file could not be collected), one more row under the session's own heading says
what happened, which test was running and where in `tinytorch/` the code was stuck.

A student's own check (`SessionSpec.student`: `grader check` without --hidden on assignments/)
answers fast and says where: short limits (config `student_check:`), a session whose results
stop coming is killed within seconds (`watchdog.watch_session`) naming the line it was at, the
process may use at most `memory_mb` of address space (Linux; macOS runs without the limit),
and a tinytorch file that does not import (a syntax error) is named once, with its line, while
the tests that do not need it still run (student_session.py).
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grader
from grader.core.context import GradingContext
from grader.core.outcomes import Outcome, Source
from grader.core.rows import Row, Section, SessionLog, read_session_log, safe_text
from grader.engine.watchdog import GradingStop, kill_tree
from grader.sandbox import Limits, cleanup, run_probe
from grader.sandbox.slots import SlotHandoff

THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
KILL_GRACE_SECONDS = 15.0
SANDBOX_MARGIN_SECONDS = 10.0   # the worker's own limit, past the probe's kill of its pytest child
MAX_LOG_BYTES = 8 * 1024 * 1024
MAX_OUTPUT_CHARS = 16384
PARENT_ENV = "TINYTORCH_GRADER_PID"   # the plugin ends a hidden session whose grader died (pytest_plugin.py)
_FAULT_LINE = re.compile(r'File "([^"]*/tinytorch/[^"]+)", line (\d+) in (\S+)')


@dataclass(frozen=True)
class SessionSpec:
    name: str                       # "public tests", "hidden tests (1 of 2)": the session row's heading
    files: tuple[Path, ...]
    source: Source
    per_test_seconds: float
    session_seconds: float          # no test starts after this; finished rows are kept
    memory_mb: int = 1536           # sandboxed sessions and a student's check
    grace_seconds: float = KILL_GRACE_SECONDS
    select: str = ""                # pytest -k expression (`grader check 01 -k broadcast`); "" runs all
    student: bool = False           # a student's own check (a plain subprocess; see the module docstring)
    repeat_seconds: float = 0.0     # student: a test's limit once REPEATS tests timed out at the same line
    stall_seconds: float = 0.0      # student: kill the session when no result came for this long (0: never)

    @property
    def hard_seconds(self) -> float:
        """When the grader kills the session: one more test's time (and a grace) after the soft limit."""
        return self.session_seconds + self.per_test_seconds + self.grace_seconds


def _pytest_args(spec: SessionSpec, rows: str, context: str, files: list[str]) -> list[str]:
    # no:unraisableexception: its gc passes after every test cost ~0.5 CPU-s a grading, for warnings no one reads
    return ["-q", "--no-header", "-p", "no:cacheprovider", "-p", "no:unraisableexception", "-p", "grader.engine.pytest_plugin",
            "--grader-rows", rows, "--grader-context", context, "-o", "addopts=",
            "--timeout", str(max(1, int(spec.per_test_seconds))), "--continue-on-collection-errors",
            *(["-k", spec.select] if spec.select else []), *files]


def _session_context(spec: SessionSpec, ctx: GradingContext, impl: str) -> GradingContext:
    now = time.time()
    return dataclasses.replace(ctx, impl=impl, source=spec.source, soft_deadline=now + spec.session_seconds,
                               deadline=now + spec.hard_seconds)


def run_session(spec: SessionSpec, ctx: GradingContext, *, sandboxed: bool = False,
                handoff: SlotHandoff | None = None, stop: GradingStop | None = None) -> list[Row]:
    """Run the session; `handoff` passes the context's leased sandbox slot to a subprocess;
    `stop` is the grading's watchdog (it kills the session when the grading stops)."""
    if not spec.files:
        return []
    stop = stop or GradingStop()
    if stop.reason:
        return [_stopped_row(spec, SessionLog(), stop.reason, 0.0)]
    if sandboxed:
        rows = _run_sandboxed(spec, ctx, stop)
        if spec.student:        # a check of a folder not the student's own: the same words for its limits
            from grader.engine.student_session import _explained
            rows = [_explained(row, spec) for row in rows]
        return rows
    if spec.student:
        from grader.engine.student_session import run_student   # it builds on this module
        return run_student(spec, ctx, stop)
    return _run_subprocess(spec, ctx, handoff, stop)


def _run_subprocess(spec: SessionSpec, ctx: GradingContext, handoff: SlotHandoff | None,
                    stop: GradingStop) -> list[Row]:
    """A plain pytest subprocess in its own process group (hidden tests; a student's own check).

    `python -P`: nothing is imported from the working directory. PARENT_ENV lets the plugin
    end the session (and its probes' workers) if this process dies. The probes' temp dirs go in
    a folder of their own, which this process removes after the session, even one killed before
    it could remove them itself."""
    with tempfile.TemporaryDirectory(prefix="grader-session-") as tmp, _probes_tmpdir() as probes_tmp:
        rows_path, context_path = Path(tmp) / "rows.jsonl", Path(tmp) / "context.json"
        dataclasses.replace(_session_context(spec, ctx, ctx.impl), workspace_dir=probes_tmp).write(context_path)
        folder = spec.files[0].parent
        cmd = [sys.executable, "-P", "-m", "pytest", *_pytest_args(spec, str(rows_path), str(context_path),
                                                                   [str(f) for f in spec.files]), "--rootdir", str(folder)]
        env = {**os.environ, **THREAD_ENV, "TINYTORCH_IMPL": ctx.impl, "PYTHONDONTWRITEBYTECODE": "1",
               PARENT_ENV: str(os.getpid()), **(handoff.env if handoff else {})}
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                pass_fds=handoff.pass_fds if handoff else ())
        with stop.process(proc.pid):
            try:
                output, _ = proc.communicate(timeout=spec.hard_seconds)
                killed = False
            except subprocess.TimeoutExpired:
                kill_tree(proc.pid, os.getpid())
                output, _ = proc.communicate()
                killed = True
            except BaseException:
                kill_tree(proc.pid, os.getpid())
                proc.wait()
                raise
        _kill_group(proc.pid)
        log = _read_log(rows_path, spec)
        text = output[-MAX_LOG_BYTES:].decode("utf-8", "replace")
        seconds = time.monotonic() - started
        if stop.reason:
            return log.rows + [_stopped_row(spec, log, stop.reason, seconds)]
        return log.rows + _session_rows(spec, log, killed=killed, exit_code=proc.returncode, output=text,
                                        seconds=seconds)


def _tail(path: Path, size: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - size))
            return handle.read(size).decode("utf-8", "replace")
    except OSError:
        return ""


@contextlib.contextmanager
def _probes_tmpdir() -> Iterator[str]:
    """A folder for one session's probe workspaces (mode 0711, as the workspaces are: a sandbox
    uid reaches its own box by path, and lists nothing). Apart from the session's own folder,
    which holds its rows, so no probe can open those."""
    path = tempfile.mkdtemp(prefix="grader-probes-")
    try:
        os.chmod(path, 0o711)
        yield path
    finally:
        cleanup.remove_tree(Path(path))


def _read_log(path: Path, spec: SessionSpec) -> SessionLog:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_LOG_BYTES)
    except OSError:
        return SessionLog()
    # Hidden-test sessions run only grader code (student code runs in probes): their points are trusted.
    return read_session_log(data.decode("utf-8", "replace"), source=spec.source,
                            keep_points=spec.source is Source.HIDDEN)


def _sandboxed_pytest_probe(tt, args, kill_after):  # runs in the sandbox worker; cwd is its box
    # pytest runs in a child process, so that student code stuck in a loop cannot keep this
    # probe from returning the rows that finished (the worker's own deadline comes later).
    import os
    import signal
    import subprocess
    import sys
    env = dict(os.environ, TINYTORCH_IMPL=os.getcwd(), PYTHONPATH=os.getcwd())
    with open("pytest-output.txt", "wb") as out:
        child = subprocess.Popen([sys.executable, "-B", "-m", "pytest", *args], stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            child.wait(timeout=kill_after)
            killed = False
        except subprocess.TimeoutExpired:
            killed = True
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            pass
        child.wait()
    def tail(name, size):
        try:
            with open(name, "rb") as handle:
                handle.seek(max(0, os.path.getsize(name) - size))
                return handle.read(size).decode("utf-8", "replace")
        except OSError:
            return ""
    return {"log": tail("rows.jsonl", 4 * 1024 * 1024), "output": tail("pytest-output.txt", 16384),
            "killed": killed, "exit_code": child.returncode}


def _plugin_package(into: Path) -> Path:
    """A minimal `grader` package for the sandbox: the plugin and `grader.core`, nothing else."""
    root = Path(grader.__file__).parent
    package = into / "grader"
    (package / "engine").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "engine" / "__init__.py").write_text("")
    shutil.copyfile(root / "engine" / "pytest_plugin.py", package / "engine" / "pytest_plugin.py")
    shutil.copytree(root / "core", package / "core", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return package


def _run_sandboxed(spec: SessionSpec, ctx: GradingContext, stop: GradingStop) -> list[Row]:
    """The same session inside one sandbox worker: no student code runs outside the sandbox."""
    folder = spec.files[0].parent
    support = [p for p in folder.glob("*.py") if not p.name.startswith("test_")]
    with tempfile.TemporaryDirectory(prefix="grader-session-") as tmp:
        context_path = _session_context(spec, ctx, ".").write(Path(tmp) / "context.json")
        files = {p.name: p for p in [*spec.files, *support]}
        files["grader"] = _plugin_package(Path(tmp))
        files["grading_context.json"] = context_path
        args = _pytest_args(spec, "rows.jsonl", "grading_context.json", [f.name for f in spec.files])
        kill_after = spec.hard_seconds
        result = run_probe(Path(ctx.impl), inspect.getsource(_sandboxed_pytest_probe), "_sandboxed_pytest_probe",
                           {"args": args, "kill_after": kill_after}, files=files,
                           uid_slot=ctx.uid_slot,
                           limits=Limits(wall_seconds=kill_after + SANDBOX_MARGIN_SECONDS,
                                         memory_bytes=spec.memory_mb * 1024 * 1024))
    values = result.values if result.status == "ok" else {}
    raw, output = values.get("log"), values.get("output")
    log = read_session_log(raw if type(raw) is str else "", source=spec.source, keep_points=False)
    output = output[-MAX_OUTPUT_CHARS:] if type(output) is str else result.output_tail
    if stop.reason:
        return log.rows + [_stopped_row(spec, log, stop.reason, result.seconds)]
    failed = result.status != "ok"
    killed = result.status == "timeout" or values.get("killed") is True
    code = values.get("exit_code")
    code = code if type(code) is int and -255 <= code <= 255 else -1
    return log.rows + _session_rows(spec, log, killed=killed, exit_code=code, output=output, seconds=result.seconds,
                                    problem=f"{result.status}: {result.error_message}" if failed and not killed else "")


def _stopped_row(spec: SessionSpec, log: SessionLog, reason: str, seconds: float) -> Row:
    """The session row of a session the grading's watchdog stopped."""
    running = f" while running {log.running}" if log.running else ""
    return Row(Section.session(spec.name), f"{spec.name} stopped: grading error: {reason}", Outcome.ERROR,
               f"grading error: the grading was stopped ({reason}) after {seconds:.0f} s{running}; "
               f"{len(log.rows)} finished results are kept.", source=Source.SESSION, seconds=seconds)


def _stuck_from_output(output: str) -> str:
    """The innermost tinytorch/ frame named in the session's output (watchdog line or faulthandler)."""
    marker = output.rfind("grader: stuck at ")
    if marker >= 0:
        line = output[marker + len("grader: stuck at "):].splitlines()[0]
        if line.startswith("tinytorch/"):
            return safe_text(line, 200)
    match = _FAULT_LINE.search(output)
    if match:
        return safe_text(f"tinytorch/{match.group(1).rsplit('/tinytorch/', 1)[1]}:{match.group(2)} in {match.group(3)}", 200)
    return ""


def _session_rows(spec: SessionSpec, log: SessionLog, *, killed: bool, exit_code: int | None, output: str,
                  seconds: float, problem: str = "") -> list[Row]:
    """Zero or one row saying how the session itself failed."""
    section = Section.session(spec.name)
    stuck = log.stuck_at or _stuck_from_output(output)
    where = f"; student code was at {stuck}" if stuck else ""
    unrun = max(0, (log.collected or 0) - len([r for r in log.rows if "::" in r.nodeid]))
    if killed:
        running = f" while running {log.running}" if log.running else ""
        return [Row(section, f"{spec.name} stopped at the time limit", Outcome.TIMEOUT,
                    safe_text(f"still running after {seconds:.0f} s{running}{where}; {len(log.rows)} finished "
                              f"results are kept, {unrun} tests did not finish. Look for a loop that never ends."),
                    source=Source.SESSION, location=stuck, seconds=seconds)]
    if not problem and not log.finished:
        problem = f"exit code {exit_code}" + (f" while running {log.running}" if log.running else "")
    if problem:
        tail = " | ".join(line.strip() for line in output.strip().splitlines()[-3:] if line.strip())
        return [Row(section, f"{spec.name} could not finish", Outcome.ERROR,
                    safe_text(f"the {spec.name} ended early ({problem}){where}; {len(log.rows)} finished results "
                              f"are kept" + (f": {tail}" if tail else "")), source=Source.SESSION, seconds=seconds)]
    if unrun:
        return [Row(section, f"{spec.name}: {unrun} tests not run", Outcome.TIMEOUT,
                    f"the session's time limit ({spec.session_seconds:.0f} s) was reached; "
                    f"{len(log.rows)} finished results are kept{where}", source=Source.SESSION, seconds=seconds)]
    return []


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
