"""No view of other processes: a worker sees only its own processes in /proc, and the
grader still kills all of them from outside."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sandbox_kit import LINUX_ONLY, make_impl, marked_processes, probe, sandbox_uid

from grader.sandbox import Limits, ProbeResult, cleanup, protections
from grader.sandbox.runner import RUNS_AS_ROOT

pytestmark = [
    LINUX_ONLY,
    pytest.mark.skipif(not RUNS_AS_ROOT, reason="a pid namespace and a private /proc need root"),
]

SNOOP = """
import os

def probe(tt, secret, pids):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{entry}/{name}", "rb") as handle:
                    if secret.encode() in handle.read():
                        found.append(f"{entry}/{name}")
            except OSError:
                pass
    direct = {}
    for pid in pids:
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as handle:
                    data = handle.read()
                direct[f"{pid}/{name}"] = "SECRET" if secret.encode() in data else f"{len(data)} bytes, no secret"
            except OSError as exc:
                direct[f"{pid}/{name}"] = type(exc).__name__
    visible = sorted(int(e) for e in os.listdir("/proc") if e.isdigit())
    return {"found": found, "direct": direct, "visible": visible, "me": os.getpid()}
"""


def test_other_processes_command_lines_and_environments_are_not_visible(tmp_path: Path) -> None:
    """Another grading's process (a secret in its argv and environment) and the grader
    itself: the worker finds neither in /proc, by scanning or by pid."""
    if protections()["pid namespace"].startswith("unavailable"):
        pytest.skip(protections()["pid namespace"])
    secret = f"OTHER-GRADING-{uuid.uuid4().hex}"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", secret], env={"TOKEN": secret})
    os.environ["TINYTORCH_TEST_SECRET"] = secret
    try:
        result = probe(make_impl(tmp_path), SNOOP, {"secret": secret, "pids": [other.pid, os.getpid()]})
    finally:
        del os.environ["TINYTORCH_TEST_SECRET"]
        other.kill()
        other.wait()
    assert result.status == "ok", result
    assert result.values["found"] == [], result.values
    assert "SECRET" not in result.values["direct"].values(), result.values["direct"]
    assert result.values["visible"] == [result.values["me"]], "the worker sees processes other than its own"


def test_a_probe_that_kills_itself_still_crashes_with_its_signal(tmp_path: Path) -> None:
    """The probe process is not the namespace's init (which ignores its own signals): SIGKILL
    and SIGSEGV sent to itself end it, and the grader names the signal."""
    impl = make_impl(tmp_path, "import os, signal\ndef die(name):\n    os.kill(os.getpid(), getattr(signal, name))\n")
    for name, words in (("SIGKILL", "SIGKILL"), ("SIGSEGV", "segmentation fault")):
        result = probe(impl, "def probe(tt, name):\n    tt.die(name)\n    return {'alive': True}\n", {"name": name})
        assert result.status == "crashed" and words in result.error_message, (name, result)


@pytest.mark.timeout(60)
def test_the_grader_kills_the_workers_processes_by_uid_from_outside(tmp_path: Path) -> None:
    """cleanup.kill_uid, run on the host while a probe is still running, finds the probe's
    processes inside its pid namespace (a setsid'ed child included) and kills every one."""
    marker = f"{3000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    impl = make_impl(
        tmp_path,
        """
        import os, time
        def spawn(marker):
            if os.fork() == 0:
                os.setsid()
                os.execv("/bin/sleep", ["sleep", marker])
            time.sleep(30)
        """,
    )
    outcome: list[ProbeResult] = []
    runner = threading.Thread(
        target=lambda: outcome.append(probe(impl, "def probe(tt, marker):\n    return {'v': tt.spawn(marker)}\n", {"marker": marker}, Limits(wall_seconds=30)))
    )
    runner.start()
    deadline = time.monotonic() + 20
    while not marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marked_processes(marker), "the probe's child never appeared"
    killed = cleanup.kill_uid(sandbox_uid())
    runner.join(timeout=20)
    assert not runner.is_alive()
    assert killed >= 2, f"kill_uid signalled {killed} processes; the probe and its child run as the sandbox uid"
    assert outcome and outcome[0].status == "crashed" and "SIGKILL" in outcome[0].error_message, outcome
    assert marked_processes(marker) == []
