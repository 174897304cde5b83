"""`grader status`, tried as a student would: the stubs, then the reference dropped in one module at a time.

One progression (nine `grader status` runs in a temp copy of assignments/, each re-running only
the modules the new file can change) feeds most tests; the others start from a copy of its
last folder, cache included, so they run few or no public tests. Timings are printed (run with
-s), never asserted.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.config import load_config
from grader.paths import assignments_dir, solutions_dir
from grader.report import last_run
from grader.report.status import State, compute_status
from grader.report.status_cache import StatusCache, cache_path

CFG = load_config()
ORDER = list(CFG.modules)


@dataclass
class Step:
    done: list[str]             # modules whose reference file is in place
    data: dict                  # `grader status --json`
    exit_code: int
    wall: float


def _status(impl: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader.cli", "status", "--impl", str(impl), *args],
                          capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


def _json_status(impl: Path) -> tuple[dict, int, float]:
    start = time.perf_counter()
    proc = _status(impl, "--json")
    wall = time.perf_counter() - start
    assert proc.stdout.strip(), proc.stderr[-2000:]
    return json.loads(proc.stdout), proc.returncode, wall


@pytest.fixture(scope="module")
def progression(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Step], str]:
    """The stubs (with a corrupt cache file), then each reference file over its stub in course order."""
    impl = tmp_path_factory.mktemp("student")
    shutil.copytree(assignments_dir() / "tinytorch", impl / "tinytorch", ignore=shutil.ignore_patterns("__pycache__"))
    cache_path(impl).parent.mkdir(parents=True)
    cache_path(impl).write_text('{"format": 1, "modules": {"01": {"key": "x", "rows": [{"section": 3}]}}')
    table = _status(impl)
    steps = [Step([], *_json_status(impl))]
    for number in ORDER:
        name = CFG.modules[number].name
        shutil.copyfile(solutions_dir() / "tinytorch" / f"{name}.py", impl / "tinytorch" / f"{name}.py")
        steps.append(Step(steps[-1].done + [number], *_json_status(impl)))
    print("\ngrader status, seconds (its own figure, wall time with start-up) after each reference file:")
    for step in steps:
        ran = [m["number"] for m in step.data["modules"] if not m["cached"]]
        print(f"  {'+'.join(step.done) or 'stubs':>26}: {step.data['seconds']:5.2f} s, {step.wall:5.2f} s wall, "
              f"re-ran {','.join(ran) or 'nothing'}")
    assert table.returncode == 0, table.stdout + table.stderr
    return impl, steps, table.stdout


def test_untouched_stubs_are_all_not_started_and_the_next_command_is_check_01(progression) -> None:
    """With nothing implemented, every module is 'not started' and the next command is `grader check 01`"""
    _, steps, table = progression
    first = steps[0]
    assert first.exit_code == 0
    assert [m["state"] for m in first.data["modules"]] == [State.NOT_STARTED.value] * len(ORDER)
    assert all(m["passed"] == 0 and m["total"] > 0 and m["todos_left"] > 0 for m in first.data["modules"])
    assert first.data["next"]["command"] == "grader check 01"
    assert first.data["milestone"]["state"] == "not run yet"
    assert table.count("not started") == len(ORDER) and "Next: grader check 01" in table, table
    assert "\x1b" not in table


def test_each_reference_file_advances_the_status_in_course_order(progression) -> None:
    """Dropping in the reference one module at a time: those modules are done, the rest not, exit 0 each time"""
    _, steps, _ = progression
    for step in steps[1:]:
        states = {m["number"]: m["state"] for m in step.data["modules"]}
        assert step.exit_code == 0, (step.done, step.data)
        assert all(states[n] == State.DONE.value for n in step.done), (step.done, states)
        assert all(states[n] != State.DONE.value for n in ORDER if n not in step.done), (step.done, states)
        following = [n for n in ORDER if n not in step.done]
        expected = f"grader check {following[0]}" if following else "grader check milestone03"
        assert step.data["next"]["command"] == expected, (step.done, step.data["next"])
    last = steps[-1].data["modules"]
    assert all(m["passed"] == m["total"] for m in last), [(m["number"], m["passed"], m["total"]) for m in last]


def test_waiting_checks_count_as_done_until_autograd_then_run(progression) -> None:
    """Module 02 is done before Autograd with its gradient checks waiting, and all of them pass after"""
    _, steps, _ = progression
    before = next(s for s in steps if s.done == ORDER[:2]).data["modules"][1]
    after = next(s for s in steps if "06" in s.done).data["modules"][1]
    assert before["state"] == "done" and before["later"] == ["06"] and before["passed"] < before["total"]
    assert after["state"] == "done" and after["passed"] == after["total"] and after["later"] == []


def test_a_corrupt_cache_is_ignored_and_rebuilt(progression) -> None:
    """The corrupt cache file planted before the first status was replaced by one entry per module"""
    impl, _, table = progression
    assert f"{len(ORDER)} modules' public tests ran" in table, table
    assert sorted(StatusCache.load(impl).entries) == ORDER


def _copy(progression, tmp_path: Path) -> Path:
    impl, _, _ = progression
    shutil.copytree(impl, tmp_path / "copy")
    return tmp_path / "copy"


def test_unchanged_files_reuse_every_result_and_an_edit_reruns_only_what_it_can_change(progression, tmp_path) -> None:
    """A second status reuses all modules; a comment added in optim.py re-runs Modules 07 and 08 only"""
    impl = _copy(progression, tmp_path)
    again = compute_status(impl, CFG)
    assert all(m.cached for m in again.modules), [m.number for m in again.modules if not m.cached]
    optim = impl / "tinytorch" / "optim.py"
    optim.write_text(optim.read_text().replace("):\n", "):  # edited\n", 3))
    edited = compute_status(impl, CFG)
    assert [m.number for m in edited.modules if not m.cached] == ["07", "08"]
    print(f"\nall cached: {again.seconds:.2f} s; after an edit of optim.py: {edited.seconds:.2f} s")


def test_a_prerequisite_left_as_a_stub_makes_a_finished_module_wait(progression, tmp_path) -> None:
    """Activations back to its stub: 02 not started, 03 (written, its checks stop at 02) waits, next `grader check 02`"""
    impl = _copy(progression, tmp_path)
    shutil.copyfile(assignments_dir() / "tinytorch" / "activations.py", impl / "tinytorch" / "activations.py")
    status = compute_status(impl, CFG)
    states = {m.number: m for m in status.modules}
    assert states["02"].state is State.NOT_STARTED
    assert states["03"].state is State.WAITING and states["03"].blocked_by == ("02",), states["03"]
    assert "Module 02 (Activations)" in states["03"].detail
    assert states["05"].state is State.DONE and states["05"].cached
    assert status.next_command == "grader check 02"


def test_the_milestone_shows_its_last_run_and_only_counts_for_the_code_it_trained(progression, tmp_path) -> None:
    """A recorded passing run makes the next command `grader submit`; an edit afterwards asks for a new run"""
    impl = _copy(progression, tmp_path)
    for key, spec in CFG.milestone.items():
        last_run.record(impl, key, title=spec.title, passed=True, test_accuracy=0.95, train_loss=0.1,
                        seconds=3.0, how=spec.script)
    status = compute_status(impl, CFG)
    assert status.milestone.state == "passed" and status.next_command == "grader submit"
    proc = _status(impl, env={"COLUMNS": "200"})
    assert proc.returncode == 0 and "test accuracy 95.0%" in proc.stdout and "grader submit" in proc.stdout, proc.stdout
    data = impl / "tinytorch" / "data.py"
    data.write_text(data.read_text() + "\n# a late edit\n")
    status = compute_status(impl, CFG)
    assert status.milestone.state == "older code" and status.next_command == "grader check milestone03"


def test_a_corrupt_milestone_record_counts_as_none(tmp_path: Path) -> None:
    """A record that is not the expected JSON is ignored, never an error"""
    (tmp_path / "tinytorch").mkdir()
    path = last_run.record_path(tmp_path)
    path.parent.mkdir(parents=True)
    for text in ("{not json", '{"format": 1, "datasets": {"mnist": {"passed": "yes"}}}', "[" * 100_000):
        path.write_text(text)
        assert last_run.read(tmp_path) == {}
    last_run.record(tmp_path, "mnist", title="MNIST", passed=False, test_accuracy=0.5, train_loss=float("nan"),
                    seconds=1.0, how="02_rumelhart_mnist.py", message="measured 50.00%")
    run = last_run.read(tmp_path)["mnist"]
    assert (run.passed, run.test_accuracy, run.train_loss, run.message) == (False, 0.5, None, "measured 50.00%")


def test_output_survives_an_ascii_terminal_without_colour(progression, tmp_path) -> None:
    """PYTHONIOENCODING=ascii, NO_COLOR, TERM=dumb, piped: no crash, no escape codes, ASCII only"""
    impl = _copy(progression, tmp_path)
    proc = _status(impl, env={"PYTHONIOENCODING": "ascii", "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "\x1b" not in proc.stdout and proc.stdout.isascii()
    assert "Next: grader check milestone03" in proc.stdout and "01-08" in proc.stdout, proc.stdout


def test_a_usage_error_exits_2(tmp_path: Path) -> None:
    """--impl pointing at a folder without tinytorch/ is a usage error that names the folder"""
    proc = _status(tmp_path)
    assert proc.returncode == 2 and str(tmp_path) in proc.stderr and "tinytorch" in proc.stderr


def test_a_syntax_error_is_named_and_not_taken_for_progress(progression, tmp_path) -> None:
    """A missing ':' in optim.py: the modules whose tests cannot be collected 'could not run', exit 1, Next names the line"""
    impl = _copy(progression, tmp_path)
    optim = impl / "tinytorch" / "optim.py"
    source = optim.read_text()
    line = next(i for i, text in enumerate(source.splitlines(), 1) if text.startswith("class SGD"))
    optim.write_text("\n".join(text.rstrip(":") if i == line else text
                               for i, text in enumerate(source.splitlines(), 1)) + "\n")
    data, code, _ = _json_status(impl)
    states = {m["number"]: m for m in data["modules"]}
    assert code == 1 and states["07"]["state"] == State.ERROR.value, states["07"]
    assert f"tinytorch/optim.py:{line}" in states["07"]["detail"], states["07"]
    assert f"tinytorch/optim.py:{line}" in data["next"]["reason"] and data["next"]["command"].startswith("grader check")


# Python as it is on macOS and on Windows, simulated on Linux for the student path: what those
# systems lack is removed before anything imports (a sitecustomize on PYTHONPATH, which the
# public tests' pytest subprocess inherits). Partial by nature (the kernel stays Linux's), it
# keeps Linux-only calls from creeping into the commands the student README promises there.
MACOS = '''
import ctypes, os, select, signal, sys
sys.platform = "darwin"
for module, names in ((os, ("pidfd_open", "sched_getaffinity", "sched_setaffinity", "memfd_create", "setresuid",
                            "setresgid", "getresuid", "getresgid", "eventfd", "splice", "unshare", "setns")),
                      (signal, ("pidfd_send_signal", "SIGRTMIN", "SIGRTMAX")), (select, ("epoll",))):
    for name in names:
        if hasattr(module, name):
            delattr(module, name)
_getattr = ctypes.CDLL.__getattr__
def _no_linux_symbols(self, name):
    if name in ("prctl", "unshare"):
        raise AttributeError(name)
    return _getattr(self, name)
ctypes.CDLL.__getattr__ = _no_linux_symbols
'''
WINDOWS_MODULES = '''
import sys
class _NotOnWindows:
    def find_spec(self, name, path=None, target=None):
        if name in ("fcntl", "pwd", "grp", "resource", "termios"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NotOnWindows())
'''


def _simulated(tmp_path: Path, source: str) -> dict[str, str]:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(source)
    return {**os.environ, "PYTHONPATH": str(folder)}


def test_status_on_a_students_own_folder_needs_no_linux_only_call(tmp_path: Path) -> None:
    """With what macOS's Python lacks removed, `grader status` runs the stubs' public tests as on a student's own folder"""
    impl = tmp_path / "student"
    shutil.copytree(assignments_dir() / "tinytorch", impl / "tinytorch", ignore=shutil.ignore_patterns("__pycache__"))
    script = ("import sys; from pathlib import Path; from grader.config import load_config; "
              "from grader.report.status import compute_status; "
              f"s = compute_status(Path({str(impl)!r}), load_config(), use_cache=False, sandbox_public=False); "
              "print(sys.platform, s.next_command, sorted({m.state.value for m in s.modules}), s.problems)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          env=_simulated(tmp_path, MACOS))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[:3] == ["darwin", "grader", "check"], proc.stdout
    assert "['not started'] []" in proc.stdout, proc.stdout


def test_plain_pytest_and_the_milestone_scripts_run_without_posix_only_modules(tmp_path: Path) -> None:
    """Without fcntl, pwd, grp, resource (native Windows), the public tests and a milestone script still run"""
    env = _simulated(tmp_path, WINDOWS_MODULES)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(assignments_dir() / "tests" / "test_07_optim.py")], capture_output=True, text=True,
                           timeout=600, env={**env, "TINYTORCH_IMPL": str(solutions_dir())}, cwd=tmp_path)
    assert tests.returncode == 0 and " passed" in tests.stdout, tests.stdout[-2000:] + tests.stderr[-2000:]
    script = assignments_dir() / "milestones" / "03_1986_mlp" / "01_rumelhart_tinydigits.py"
    run = subprocess.run([sys.executable, str(script), "--impl", str(assignments_dir())], capture_output=True,
                         text=True, timeout=600, env=env, cwd=tmp_path)
    assert run.returncode == 1 and "Module 01" in run.stdout and "Traceback" not in run.stdout + run.stderr, \
        run.stdout[-2000:] + run.stderr[-2000:]


def test_grader_check_milestone03_records_the_run_status_shows(progression, tmp_path) -> None:
    """A student's `grader check milestone03` (TinyDigits here) leaves the record `grader status` reads"""
    import dataclasses

    from grader.datasets import load_tinydigits
    from grader.engine.milestone import score_milestone

    impl = _copy(progression, tmp_path)
    only = dataclasses.replace(CFG, milestone={"tinydigits": CFG.milestone["tinydigits"]})
    rows, runs = score_milestone(impl, only, {"tinydigits": load_tinydigits}, student=True)
    assert runs["tinydigits"].status == "ok", runs
    run = last_run.read(impl)["tinydigits"]
    assert run.passed and run.how == "grader check milestone03" and run.test_accuracy == runs["tinydigits"].test_accuracy
    status = compute_status(impl, CFG)
    assert status.milestone.current and status.next_command == "grader check milestone03"   # MNIST has not run
    assert "TinyDigits" in str(status.to_json()["milestone"]["runs"])
