"""Cleanup: no process a sandbox started survives run_probe, and nothing else is touched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sandbox_kit import LINUX_ONLY, make_impl, marked_processes, probe, sandbox_uid

from grader.sandbox import Limits, cleanup
from grader.sandbox.runner import PROJECT_ROOT, RUNS_AS_ROOT

pytestmark = LINUX_ONLY


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
        assert cleanup.processes_of_uid(sandbox_uid()) == []


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


BECOME_UID_AND_SLEEP = """
import os, sys
uid = int(sys.argv[1])
os.setgroups([])
os.setresgid(uid, uid, uid)
os.setresuid(uid, uid, uid)
if sys.argv[3] == "escape" and os.fork() == 0:
    os.setsid()
    os.execv("/bin/sleep", ["sleep", sys.argv[2]])
os.execv("/bin/sleep", ["sleep", sys.argv[2]])
"""

SWEEP_BESIDE_MATMUL = """
import json, os, sys, threading
os.environ["OPENBLAS_NUM_THREADS"] = "2"  # threaded BLAS, as a grader without grader/__init__'s default has
import numpy as np
from grader.sandbox import cleanup
uid = int(sys.argv[1])
forks = []
os.register_at_fork(before=lambda: forks.append(os.getpid()))
stop = threading.Event()
def multiply() -> None:
    a = np.random.default_rng(0).random((256, 256))
    while not stop.is_set():
        a = a @ a
        a /= np.abs(a).max()
thread = threading.Thread(target=multiply)
thread.start()
for _ in range(20):
    cleanup.sweep(None, uid)
stop.set()
thread.join()
print(json.dumps({"forks": len(forks), "left": cleanup.processes_of_uid(uid)}))
"""


@pytest.mark.skipif(not RUNS_AS_ROOT, reason="processes of another uid can only be started and killed as root")
@pytest.mark.timeout(180)
def test_sweep_kills_every_process_of_the_uid_without_forking_beside_a_matmul_loop() -> None:
    """The uid sweep leaves no process of the uid (a setsid escapee included), never forks,
    and finishes while another thread of the sweeping process runs NumPy matmuls."""
    uid = sandbox_uid()
    marker = f"{7000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    sleepers = [
        subprocess.Popen([sys.executable, "-c", BECOME_UID_AND_SLEEP, str(uid), marker, how])
        for how in ("stay", "stay", "escape")
    ]
    try:
        deadline = time.monotonic() + 30
        while len(cleanup.processes_of_uid(uid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(cleanup.processes_of_uid(uid)) == 4, "the sleepers did not all start as the sandbox uid"
        sweeper = subprocess.run(
            [sys.executable, "-c", SWEEP_BESIDE_MATMUL, str(uid)],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=150,
        )
        assert sweeper.returncode == 0, sweeper.stderr[-2000:]
        outcome = json.loads(sweeper.stdout)
        assert outcome == {"forks": 0, "left": []}, outcome
        assert [s.wait(timeout=30) for s in sleepers] == [-9, -9, -9], "the sleepers were not killed by the sweep"
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
        cleanup.reap_orphans()  # the escapee, if this test process is already a subreaper
    assert cleanup.processes_of_uid(uid) == [] and marked_processes(marker) == []
