"""The sandbox: student code runs only in worker processes, and only plain data comes back.

Every test builds a tiny fake `tinytorch` package in tmp_path (a function `add(a, b)`, or a
variant that misbehaves) and runs a probe against it through `run_probe`.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import LANDLOCK_ABI, Limits, ProbeResult, run_probe
from grader.sandbox import cleanup, protocol
from grader.sandbox.privileges import sandbox_id
from grader.sandbox.runner import PROJECT_ROOT, RUNS_AS_ROOT

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux")

# A slot of our own (uid 61500 + ...), away from the slots the tamper suite and graders use.
SLOT = 500 + os.getpid() % 400
SANDBOX_UID = sandbox_id(SLOT)
QUICK = Limits(wall_seconds=3.0, memory_bytes=1024**3)
SECRET_FIXTURE = Path(__file__).parent / "sandbox_cases" / "secret.txt"
SECRET_TEXT = "SANDBOX-SECRET-FIXTURE"

ADD_PACKAGE = """
import numpy as np

def add(a, b):
    return np.asarray(a) + np.asarray(b)
"""


def make_impl(tmp_path: Path, body: str = ADD_PACKAGE, name: str = "impl") -> Path:
    """A directory holding tinytorch/__init__.py with `body` (dedented)."""
    package = tmp_path / name / "tinytorch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(body))
    return package.parent


def probe(impl: Path, source: str, inputs: dict | None = None, limits: Limits = QUICK, **kwargs) -> ProbeResult:
    """run_probe with our slot and the function named `probe` in `source`."""
    return run_probe(impl, textwrap.dedent(source), "probe", inputs, limits=limits, uid_slot=SLOT, **kwargs)


def marked_processes(marker: str) -> list[int]:
    """Pids whose command line contains `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def foreign_children() -> list[int]:
    """Children of this test process outside its session: what a sandbox could leave behind."""
    own = os.getsid(0)
    result = []
    for pid in cleanup.children():
        try:
            if os.getsid(pid) != own:
                result.append(pid)
        except ProcessLookupError:
            continue
    return result


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    """After every test: no process of the sandbox uid and no orphan under this process."""
    yield
    if RUNS_AS_ROOT:
        assert cleanup.processes_of_uid(SANDBOX_UID) == [], f"processes of sandbox uid {SANDBOX_UID} survived"
    assert foreign_children() == [], "orphaned sandbox processes survived"


# --- plain data round trip -------------------------------------------------------------------


def test_ok_roundtrip_keeps_dtypes_nan_inf_and_plain_values(tmp_path: Path) -> None:
    """Arrays keep dtype, NaN and inf; scalars, strings, None, lists, tuples and dicts survive."""
    a = np.array([1.5, np.nan, np.inf, -np.inf], dtype=np.float32)
    result = probe(
        make_impl(tmp_path),
        """
        import numpy as np
        def probe(tt, a, b, label, flags):
            return {
                "sum": tt.add(a, b), "int": 3, "float": 0.1, "nan": float("nan"), "bool": True,
                "str": "héllo", "none": None, "list": [1, 2.5, "x", None, [True]], "shape": (2, 3),
                "nested": {"grad": np.ones((2, 2), dtype=np.float64)}, "np_scalar": np.float32(2.5),
                "ints": np.arange(3, dtype=np.int64), "mask": np.array([True, False]),
                "echo": [label, flags],
            }
        """,
        {"a": a, "b": np.float32(1.0), "label": "lbl", "flags": [1, None]},
    )
    assert result.status == "ok", result
    values = result.values
    assert values["sum"].dtype == np.float32 and type(values["sum"]) is np.ndarray
    np.testing.assert_array_equal(values["sum"], a + np.float32(1.0))
    assert np.isnan(values["nan"]) and values["int"] == 3 and type(values["int"]) is int
    assert values["float"] == 0.1 and values["bool"] is True and values["none"] is None
    assert values["str"] == "héllo" and values["list"] == [1, 2.5, "x", None, [True]]
    assert values["shape"] == (2, 3)
    np.testing.assert_array_equal(values["nested"]["grad"], np.ones((2, 2)))
    assert values["np_scalar"].dtype == np.float32 and values["np_scalar"].shape == ()
    assert values["ints"].dtype == np.int64 and values["mask"].dtype == np.bool_
    assert values["echo"] == ["lbl", [1, None]]
    assert result.seconds > 0 and result.error_type is None


def test_ndarray_subclass_comes_back_as_plain_ndarray(tmp_path: Path) -> None:
    """An ndarray subclass (np.matrix, say) is converted to a plain ndarray, values kept."""
    result = probe(make_impl(tmp_path), "import numpy as np\ndef probe(tt):\n    return {'m': np.asmatrix(np.eye(2))}\n")
    assert result.status == "ok", result
    assert type(result.values["m"]) is np.ndarray
    np.testing.assert_array_equal(result.values["m"], np.eye(2))


@pytest.mark.parametrize(
    "expression",
    [
        "np.array([object(), 1], dtype=object)",
        "object()",
        "np.array([1 + 2j])",
        "{1: 2}",
        "np.array(['a', 'b'])",
        "tt",
    ],
)
def test_values_that_are_not_plain_data_are_bad_output(tmp_path: Path, expression: str) -> None:
    """Object or complex arrays, arbitrary objects and modules are rejected as bad_output."""
    source = f"import numpy as np\ndef probe(tt):\n    return {{'v': {expression}}}\n"
    result = probe(make_impl(tmp_path), source)
    assert result.status == "bad_output", result
    assert result.values == {} and result.error_message


def test_returning_a_non_dict_is_bad_output(tmp_path: Path) -> None:
    """The probe must return a dict; a list is reported, not crashed on."""
    result = probe(make_impl(tmp_path), "def probe(tt):\n    return [1, 2]\n")
    assert result.status == "bad_output" and "dict" in result.error_message, result


# --- student failures --------------------------------------------------------------------------


def test_not_implemented_in_call_reports_its_message(tmp_path: Path) -> None:
    """NotImplementedError inside the call -> not_implemented, with the stub's message."""
    impl = make_impl(tmp_path, 'def add(a, b):\n    raise NotImplementedError("Module 06: Mul backward")\n')
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n")
    assert (result.status, result.error_type, result.error_message) == (
        "not_implemented",
        "NotImplementedError",
        "Module 06: Mul backward",
    )


def test_not_implemented_at_import_is_not_implemented(tmp_path: Path) -> None:
    """A package that raises NotImplementedError while importing is simply not started."""
    impl = make_impl(tmp_path, 'raise NotImplementedError("Module 01: Tensor")\n')
    result = probe(impl, "def probe(tt):\n    return {}\n")
    assert result.status == "not_implemented" and result.error_message == "Module 01: Tensor", result


def test_syntax_error_in_package_is_import_error(tmp_path: Path) -> None:
    """A syntax error in tinytorch -> import_error naming SyntaxError and the file."""
    impl = make_impl(tmp_path, "def add(a, b)\n    return a + b\n")
    result = probe(impl, "def probe(tt):\n    return {}\n")
    assert result.status == "import_error" and result.error_type == "SyntaxError", result
    assert "__init__.py" in result.error_message


def test_exception_at_import_is_import_error_with_location(tmp_path: Path) -> None:
    """Another exception at import -> import_error with type, message and where it happened."""
    impl = make_impl(tmp_path, "def boom():\n    raise ValueError('bad shape (2, 3)')\nboom()\n")
    result = probe(impl, "def probe(tt):\n    return {}\n")
    assert result.status == "import_error" and result.error_type == "ValueError", result
    assert "bad shape (2, 3)" in result.error_message and "tinytorch/__init__.py:2" in result.error_message
    assert "ValueError" in result.output_tail


def test_exception_in_call_is_raised_with_type_and_message(tmp_path: Path) -> None:
    """Any other exception in the call -> raised, keeping the student's type and message."""
    impl = make_impl(tmp_path, "def add(a, b):\n    raise ValueError('shapes (2,) and (3,) differ')\n")
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n")
    assert (result.status, result.error_type, result.error_message) == ("raised", "ValueError", "shapes (2,) and (3,) differ")


def test_sys_exit_at_import_is_import_error(tmp_path: Path) -> None:
    """sys.exit(0) while importing does not pass for success: it is an import_error."""
    impl = make_impl(tmp_path, "import sys\nsys.exit(0)\n")
    result = probe(impl, "def probe(tt):\n    return {'v': 1}\n")
    assert result.status == "import_error" and result.error_type == "SystemExit", result


def test_os_exit_at_import_is_crashed(tmp_path: Path) -> None:
    """os._exit(0) while importing leaves no result: crashed, naming the exit code."""
    impl = make_impl(tmp_path, "import os\nos._exit(0)\n")
    result = probe(impl, "def probe(tt):\n    return {'v': 1}\n")
    assert result.status == "crashed" and "exited with code 0" in result.error_message, result


def test_sys_exit_in_call_is_raised(tmp_path: Path) -> None:
    """sys.exit(0) inside the call is caught: raised, error_type SystemExit."""
    impl = make_impl(tmp_path, "import sys\ndef add(a, b):\n    sys.exit(0)\n")
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n")
    assert result.status == "raised" and result.error_type == "SystemExit", result


def test_os_exit_in_call_is_crashed(tmp_path: Path) -> None:
    """os._exit(0) inside the call is crashed, not ok."""
    impl = make_impl(tmp_path, "import os\ndef add(a, b):\n    os._exit(0)\n")
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n")
    assert result.status == "crashed" and "code 0" in result.error_message, result


def test_keyboard_interrupt_in_call_is_raised(tmp_path: Path) -> None:
    """KeyboardInterrupt (a BaseException) is reported like any other exception."""
    impl = make_impl(tmp_path, "def add(a, b):\n    raise KeyboardInterrupt\n")
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n")
    assert result.status == "raised" and result.error_type == "KeyboardInterrupt", result


# --- time, memory, processes, output ----------------------------------------------------------


@pytest.mark.timeout(60)
def test_infinite_loop_inside_catch_all_times_out(tmp_path: Path) -> None:
    """A loop that swallows every BaseException still ends at the deadline: timeout."""
    impl = make_impl(
        tmp_path,
        """
        def add(a, b):
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
        """,
    )
    started = time.monotonic()
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n", limits=Limits(wall_seconds=2.0))
    elapsed = time.monotonic() - started
    assert result.status == "timeout" and "2 s time limit" in result.error_message, result
    assert elapsed < 2.0 + 2.0, f"run_probe took {elapsed:.1f} s for a 2 s deadline"


@pytest.mark.timeout(60)
def test_sleep_past_deadline_with_signals_and_timers_disarmed_times_out(tmp_path: Path) -> None:
    """Ignoring SIGTERM/SIGALRM/SIGINT and cancelling timers does not stop the deadline."""
    impl = make_impl(
        tmp_path,
        """
        import signal, time
        def add(a, b):
            for sig in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
                signal.signal(sig, signal.SIG_IGN)
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.alarm(0)
            time.sleep(60)
        """,
    )
    started = time.monotonic()
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n", limits=Limits(wall_seconds=2.0))
    assert result.status == "timeout", result
    assert time.monotonic() - started < 4.0


@pytest.mark.timeout(60)
def test_cpu_limit_is_reported_as_crash_naming_the_limit(tmp_path: Path) -> None:
    """A busy loop that ignores SIGXCPU is killed by RLIMIT_CPU; the message names the limit."""
    impl = make_impl(
        tmp_path,
        """
        import signal
        def add(a, b):
            signal.signal(signal.SIGXCPU, signal.SIG_IGN)
            while True:
                pass
        """,
    )
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n", limits=Limits(wall_seconds=15.0, cpu_seconds=1))
    assert result.status == "crashed" and "CPU time limit of 1 s" in result.error_message, result


@pytest.mark.timeout(60)
def test_memory_bombs_raise_memory_error_and_leave_the_grader_fine(tmp_path: Path) -> None:
    """A huge NumPy allocation raises MemoryError; a growing list is stopped by RLIMIT_AS."""
    impl = make_impl(
        tmp_path,
        """
        import numpy as np
        def huge():
            return np.ones(10**11)
        def grow():
            hog = []
            while True:
                hog.append(bytearray(50 * 1024**2))
        """,
    )
    limits = Limits(wall_seconds=10.0, memory_bytes=512 * 1024**2)
    result = probe(impl, "def probe(tt):\n    return {'v': tt.huge()}\n", limits=limits)
    assert (result.status, result.error_type) == ("raised", "MemoryError"), result
    result = probe(impl, "def probe(tt):\n    return {'v': tt.grow()}\n", limits=limits)
    assert result.status in ("raised", "crashed"), result
    assert result.status == "crashed" or result.error_type == "MemoryError", result
    assert np.ones(1000).sum() == 1000.0  # the grader itself is untouched


@pytest.mark.timeout(60)
def test_fork_bomb_is_contained_and_fully_killed(tmp_path: Path) -> None:
    """A fork bomb hits RLIMIT_NPROC, times out, and no process of it survives run_probe."""
    marker = f"{4000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    impl = make_impl(
        tmp_path,
        """
        import os
        def bomb(marker):
            for _ in range(3):
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", marker])
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
        """,
    )
    result = probe(impl, "def probe(tt, marker):\n    return {'v': tt.bomb(marker)}\n", {"marker": marker})
    assert result.status == "timeout", result
    assert marked_processes(marker) == []
    if RUNS_AS_ROOT:
        assert cleanup.processes_of_uid(SANDBOX_UID) == []


@pytest.mark.timeout(60)
def test_setsid_double_fork_orphan_is_killed_after_a_normal_return(tmp_path: Path) -> None:
    """A grandchild that escapes with setsid + double fork is killed once the probe returns."""
    marker = f"{5000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    impl = make_impl(
        tmp_path,
        """
        import os, time
        def escape(marker):
            child = os.fork()
            if child == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", marker])
                os._exit(0)
            os.waitpid(child, 0)
            time.sleep(0.3)
            return os.getpid()
        """,
    )
    result = probe(impl, "def probe(tt, marker):\n    return {'pid': tt.escape(marker)}\n", {"marker": marker})
    assert result.status == "ok", result
    assert marked_processes(marker) == []


@pytest.mark.timeout(60)
def test_interrupted_run_leaves_nothing_running(tmp_path: Path) -> None:
    """If the grader is interrupted mid-probe (a test timeout, say), the sandbox still dies."""
    marker = f"{6000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    impl = make_impl(
        tmp_path,
        """
        import os
        def hang(marker):
            if os.fork() == 0:
                os.setsid()
                os.execv("/bin/sleep", ["sleep", marker])
            while True:
                pass
        """,
    )

    class Interrupted(Exception):
        pass

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(Interrupted):
            probe(impl, "def probe(tt, marker):\n    return {'v': tt.hang(marker)}\n", {"marker": marker}, Limits(wall_seconds=30))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert marked_processes(marker) == []


def test_grader_children_outside_the_sandbox_are_left_alone(tmp_path: Path) -> None:
    """A process the grader itself started in a new session (a pytest shard, say) survives."""
    bystander = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        result = probe(make_impl(tmp_path), "def probe(tt):\n    return {'v': 1}\n")
        assert result.status == "ok", result
        assert bystander.poll() is None, "run_probe killed a child it did not start"
    finally:
        bystander.kill()
        bystander.wait()


@pytest.mark.timeout(60)
def test_huge_output_is_capped_and_only_the_tail_returned(tmp_path: Path) -> None:
    """100 MB printed hits RLIMIT_FSIZE; the grader gets at most ~2 KB of tail."""
    impl = make_impl(
        tmp_path,
        """
        import sys
        def spam():
            line = "x" * 999 + "\\n"
            for _ in range(100_000):
                sys.stdout.write(line)
        """,
    )
    limits = Limits(wall_seconds=20.0, file_bytes=8 * 1024**2)
    result = probe(impl, "def probe(tt):\n    return {'v': tt.spam()}\n", limits=limits)
    assert result.status in ("crashed", "raised"), result
    if result.status == "crashed":
        assert "output/file size limit of 8388608 bytes" in result.error_message
    assert 0 < len(result.output_tail) <= 2048 and "xxx" in result.output_tail


# --- filesystem and grader isolation -----------------------------------------------------------


READ_PROBE = """
def probe(tt, paths):
    out = {}
    for path in paths:
        try:
            with open(path) as handle:
                out[path] = "READ:" + handle.read()
        except Exception as exc:
            out[path] = type(exc).__name__
    return {"results": out}
"""


def test_files_outside_the_sandbox_cannot_be_read(tmp_path: Path) -> None:
    """Secrets beside the sandbox, in the repo and the original package are unreadable."""
    outside = tmp_path / "outside" / "labels.txt"
    outside.parent.mkdir()
    outside.write_text(SECRET_TEXT)
    impl = make_impl(tmp_path)
    assert SECRET_FIXTURE.read_text().strip() == SECRET_TEXT
    paths = [str(outside), str(SECRET_FIXTURE), str(impl / "tinytorch" / "__init__.py"), str(PROJECT_ROOT / "pyproject.toml")]
    result = probe(impl, READ_PROBE, {"paths": paths})
    assert result.status == "ok", result
    for path, outcome in result.values["results"].items():
        assert outcome in ("PermissionError", "FileNotFoundError"), f"{path} was readable: {outcome[:60]!r}"
    if LANDLOCK_ABI > 0:
        assert result.values["results"][str(outside)] == "PermissionError"


@pytest.mark.skipif(not RUNS_AS_ROOT, reason="DAC-protected files are readable by their non-root owner")
def test_root_only_files_cannot_be_read(tmp_path: Path) -> None:
    """As root the grader drops the worker's uid: /etc/shadow and /root stay closed."""
    result = probe(make_impl(tmp_path), READ_PROBE, {"paths": ["/etc/shadow", "/root/.bashrc"]})
    assert result.status == "ok", result
    assert set(result.values["results"].values()) <= {"PermissionError", "FileNotFoundError"}, result.values


def test_package_copy_is_readable_and_grader_modules_are_not_importable(tmp_path: Path) -> None:
    """The worker reads its own copy of tinytorch, yet cannot import the grader."""
    result = probe(
        make_impl(tmp_path),
        """
        import os
        def probe(tt):
            try:
                import grader.sandbox.runner
                grader_import = "imported"
            except BaseException as exc:
                grader_import = type(exc).__name__
            return {"file": tt.__file__, "cwd": os.getcwd(), "grader": grader_import}
        """,
    )
    assert result.status == "ok", result
    assert result.values["file"] == os.path.join(result.values["cwd"], "tinytorch", "__init__.py")
    assert result.values["grader"] != "imported"


def test_writes_outside_the_work_dir_fail(tmp_path: Path) -> None:
    """Writing beside the sandbox or into the repo fails; the work dir itself is writable."""
    targets = [tmp_path / "pwned.txt", PROJECT_ROOT / "tests" / "sandbox_cases" / f"pwned-{uuid.uuid4().hex}.txt"]
    result = probe(
        make_impl(tmp_path),
        """
        def probe(tt, paths):
            out = {}
            for path in [*paths, "inside.txt"]:
                try:
                    with open(path, "w") as handle:
                        handle.write("pwned")
                    out[path] = "WROTE"
                except Exception as exc:
                    out[path] = type(exc).__name__
            return {"results": out}
        """,
        {"paths": [str(t) for t in targets]},
    )
    assert result.status == "ok", result
    assert result.values["results"]["inside.txt"] == "WROTE"
    for target in targets:
        assert not target.exists(), f"sandboxed code created {target}"
        assert result.values["results"][str(target)] in ("PermissionError", "FileNotFoundError", "OSError")


def test_grader_process_cannot_be_signalled(tmp_path: Path) -> None:
    """The worker may not signal its parent, the grader (probed with the harmless signal 0)."""
    if not RUNS_AS_ROOT and LANDLOCK_ABI < 6:
        pytest.skip("without a uid drop or Landlock signal scoping the worker shares the grader's uid")
    result = probe(
        make_impl(tmp_path),
        """
        import os
        def probe(tt):
            try:
                os.kill(os.getppid(), 0)
                return {"kill": "allowed"}
            except Exception as exc:
                return {"kill": type(exc).__name__}
        """,
    )
    assert result.status == "ok" and result.values["kill"] == "PermissionError", result


def test_temp_dir_is_removed_even_after_chmod(tmp_path: Path) -> None:
    """The worker's dir disappears afterwards even if the student locked directories."""
    result = probe(
        make_impl(tmp_path),
        """
        import os
        def probe(tt):
            os.makedirs("a/b/c")
            open("a/b/c/f", "w").close()
            os.chmod("a/b/c", 0)
            os.chmod("a/b", 0)
            os.chmod(".", 0o500)
            return {"cwd": os.getcwd()}
        """,
    )
    assert result.status == "ok", result
    assert not Path(result.values["cwd"]).exists()
    assert not Path(result.values["cwd"]).parent.exists()


def test_forged_result_written_to_inherited_fds_is_bad_output(tmp_path: Path) -> None:
    """Garbage written over the worker's result channel is bad_output, never a grader error."""
    impl = make_impl(
        tmp_path,
        """
        import os
        for fd in range(3, 1024):
            try:
                os.pwrite(fd, b'{"status": "ok", "values": {"v": {"A": "a0"}}}', 0)
            except OSError:
                pass
        os._exit(0)
        """,
    )
    result = probe(impl, "def probe(tt):\n    return {}\n")
    assert result.status == "bad_output", result


def test_symlinked_package_is_refused(tmp_path: Path) -> None:
    """impl_dir/tinytorch as a symlink (e.g. to the reference solution) is not followed."""
    real = make_impl(tmp_path, name="real")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "tinytorch").symlink_to(real / "tinytorch")
    result = probe(linked, "def probe(tt):\n    return {}\n")
    assert result.status == "import_error" and "symlink" in result.error_message, result


def test_extra_files_are_importable_by_the_probe(tmp_path: Path) -> None:
    """`files` are copied beside tinytorch, e.g. a milestone script the probe imports."""
    script = tmp_path / "recipe_source.py"
    script.write_text("def steps():\n    return 7\n")
    result = probe(
        make_impl(tmp_path),
        "import importlib\ndef probe(tt):\n    return {'steps': importlib.import_module('recipe').steps()}\n",
        files={"recipe.py": script},
    )
    assert result.status == "ok" and result.values["steps"] == 7, result


def test_same_probe_twice_gives_identical_results(tmp_path: Path) -> None:
    """Hash seeds and random generators are fixed, so reruns agree exactly."""
    source = """
    import random
    import numpy as np
    def probe(tt):
        return {"hash": hash("tinytorch"), "order": list({"relu", "tanh", "sigmoid", "softmax"}),
                "np": np.random.rand(3), "py": random.random()}
    """
    impl = make_impl(tmp_path)
    first, second = probe(impl, source), probe(impl, source)
    assert first.status == second.status == "ok", (first, second)
    assert first.values["hash"] == second.values["hash"] and first.values["order"] == second.values["order"]
    assert first.values["py"] == second.values["py"]
    np.testing.assert_array_equal(first.values["np"], second.values["np"])


# --- the grader's own defences -----------------------------------------------------------------


def test_author_mistakes_raise_in_the_grader(tmp_path: Path) -> None:
    """A probe that does not parse, a missing function or non-plain inputs fail loudly."""
    impl = make_impl(tmp_path)
    with pytest.raises(ValueError, match="does not parse"):
        probe(impl, "def probe(tt:\n")
    with pytest.raises(ValueError, match="no top-level function 'probe'"):
        probe(impl, "def other(tt):\n    return {}\n")
    with pytest.raises(ValueError, match="has type object"):
        probe(impl, "def probe(tt, x):\n    return {}\n", {"x": object()})


def _npz_with_header(header: str, payload: bytes = b"") -> bytes:
    """A one-member .npz whose .npy header is `header` (a dict literal), then `payload`."""
    npy = io.BytesIO()
    body = header.encode("latin1")
    padding = 64 - (10 + len(body) + 1) % 64
    npy.write(b"\x93NUMPY\x01\x00" + (len(body) + padding + 1).to_bytes(2, "little") + body + b" " * padding + b"\n")
    npy.write(payload)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a0.npy", npy.getvalue())
    return archive.getvalue()


@pytest.mark.parametrize(
    "npz",
    [
        _npz_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (10**12,), }"),
        _npz_with_header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\x00" * 8),
        _npz_with_header("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", b"\x00" * 16),
        b"PK\x03\x04garbage",
        b"not a zip at all",
    ],
    ids=["huge-shape", "object", "complex", "truncated-zip", "garbage"],
)
def test_malformed_array_archives_raise_plain_data_error(npz: bytes) -> None:
    """Decoding rejects oversized, object, complex and corrupt archives before allocating."""
    with pytest.raises(protocol.PlainDataError):
        protocol.decode({"v": {"A": "a0"}}, npz, 64 * 1024**2)


@pytest.mark.parametrize(
    "data",
    [b"[" * 100_000, b'{"v": {"Q": 1}}', b'{"v": {"A": "missing"}}', b"\xff\xfe", b'{"v": {"L": 1}}'],
    ids=["deep", "unknown-tag", "missing-array", "not-utf8", "bad-list"],
)
def test_malformed_json_raises_plain_data_error(data: bytes) -> None:
    """Deeply nested, mistagged or undecodable JSON is a PlainDataError, nothing else."""
    with pytest.raises(protocol.PlainDataError):
        protocol.decode(protocol.loads_json(data), b"", 1024)


def test_worker_environment_is_minimal(tmp_path: Path) -> None:
    """The worker sees only the documented environment, not the grader's."""
    os.environ["TINYTORCH_SANDBOX_TEST_LEAK"] = "leaked"
    try:
        result = probe(make_impl(tmp_path), "import os\ndef probe(tt):\n    return {'env': dict(os.environ)}\n")
    finally:
        del os.environ["TINYTORCH_SANDBOX_TEST_LEAK"]
    assert result.status == "ok", result
    env = result.values["env"]
    assert "TINYTORCH_SANDBOX_TEST_LEAK" not in env
    assert env["PYTHONHASHSEED"] == "0" and env["OPENBLAS_NUM_THREADS"] == "1" and env["PATH"] == "/usr/bin:/bin"
