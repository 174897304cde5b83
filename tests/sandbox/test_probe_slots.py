"""run_probe and slots: a probe runs on a slot its caller leased (or one it leases itself),
concurrent graders do not wait for each other, and waiting never counts as run time.

These use the machine's real pool, like a grader does; every slot here is leased from it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sandbox_kit import LINUX_ONLY, make_impl, probe

from grader.sandbox import SlotPool, runner
from grader.sandbox.privileges import SANDBOX_BASE_ID
from grader.sandbox.runner import RUNS_AS_ROOT
from grader.sandbox.slots import default_pool

pytestmark = LINUX_ONLY

PROJECT = Path(__file__).resolve().parents[2]

# Returns when it ran (wall clock) and as whom, after sleeping `seconds`.
TIMED_PROBE = """
import os, time
def probe(tt, seconds):
    start = time.time()
    time.sleep(seconds)
    return {"uid": os.getuid(), "start": start, "end": time.time()}
"""

CONCURRENT = """
import json, sys, time
from pathlib import Path
from grader.sandbox import Limits, run_probe
impl, source, start_at = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
while time.time() < start_at:
    time.sleep(0.001)
result = run_probe(impl, source, "probe", {"seconds": 1.0}, limits=Limits(wall_seconds=30))
print(json.dumps({"status": result.status, "values": result.values, "seconds": result.seconds,
                  "waited": result.waited_seconds, "message": result.error_message}))
"""

HOLD_SLOT = """
import sys, time
from grader.sandbox import SlotPool
lease = SlotPool().lease_exactly([int(sys.argv[1])])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""

CHILD_PROBE = """
import json, os, sys
from pathlib import Path
from grader.sandbox import run_probe, runner
runner.IMPLICIT_LEASE_FOR_UNLEASED_SLOTS = False  # the slot must come from the handoff
source = "import os\\ndef probe(tt):\\n    return {'uid': os.getuid()}\\n"
result = run_probe(Path(sys.argv[1]), source, "probe", uid_slot=int(sys.argv[2]))
print(json.dumps({"status": result.status, "values": result.values, "message": result.error_message}))
"""


def python(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """`python -c code args...` from the project root, text mode."""
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=PROJECT, text=True, **kwargs)


def unleased_slot() -> int:
    """A slot this process does not hold (another process may)."""
    return next(s for s in range(300, 400) if not default_pool().holds(s))


def test_a_slot_not_leased_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the transitional implicit lease, an int slot this process did not lease is refused."""
    monkeypatch.setattr(runner, "IMPLICIT_LEASE_FOR_UNLEASED_SLOTS", False)
    slot = unleased_slot()
    with pytest.raises(ValueError, match=f"uid_slot={slot} is not leased by this process"):
        probe(make_impl(tmp_path), "def probe(tt):\n    return {}\n", uid_slot=slot)


def test_a_leased_slot_is_used_as_given(tmp_path: Path) -> None:
    """A slot from the caller's lease runs the worker as exactly that slot's uid."""
    impl = make_impl(tmp_path)
    with SlotPool().lease(2) as lease:
        for slot in lease.slots:
            result = probe(impl, TIMED_PROBE, {"seconds": 0.0}, uid_slot=slot)
            assert result.status == "ok", result
            if RUNS_AS_ROOT:
                assert result.values["uid"] == SANDBOX_BASE_ID + slot, (slot, result.values)


def test_without_a_slot_run_probe_leases_one_for_the_probe_only(tmp_path: Path) -> None:
    """uid_slot=None: the probe gets a free slot, and gives it back when it ends."""
    result = probe(make_impl(tmp_path), TIMED_PROBE, {"seconds": 0.0}, uid_slot=None)
    assert result.status == "ok", result
    if RUNS_AS_ROOT:
        assert not default_pool().holds(result.values["uid"] - SANDBOX_BASE_ID)


@pytest.mark.timeout(120)
def test_two_processes_probing_at_once_use_different_uids_and_overlap(tmp_path: Path) -> None:
    """Two graders starting a 1 s probe at the same moment run side by side, not one after the other."""
    impl = make_impl(tmp_path)
    start_at = str(time.time() + 3.0)  # both have imported the grader by then
    children = [python(CONCURRENT, str(impl), TIMED_PROBE, start_at, stdout=subprocess.PIPE) for _ in range(2)]
    outputs = [json.loads(child.communicate(timeout=100)[0]) for child in children]
    assert [o["status"] for o in outputs] == ["ok", "ok"], outputs
    first, second = (o["values"] for o in outputs)
    figures = f"runs {[(round(o['values']['start'] - float(start_at), 2), round(o['seconds'], 2)) for o in outputs]}"
    assert max(first["start"], second["start"]) < min(first["end"], second["end"]), f"probes did not overlap: {figures}"
    if RUNS_AS_ROOT:
        assert first["uid"] != second["uid"], figures


@pytest.mark.skipif(not RUNS_AS_ROOT, reason="without root nothing is locked across processes, so nothing waits")
@pytest.mark.timeout(120)
def test_an_unleased_int_slot_waits_for_its_holder_reports_it_and_does_not_count_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Transitional: an int slot held by another process is waited for, with a report naming
    that process; the wait is waited_seconds, never part of the probe's own seconds."""
    slot = unleased_slot()
    holder = python(HOLD_SLOT, str(slot), "1.5", stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with caplog.at_level(logging.WARNING, logger="grader.sandbox.slots"):
            result = probe(make_impl(tmp_path), TIMED_PROBE, {"seconds": 0.0}, uid_slot=slot)
    finally:
        holder.wait(timeout=60)
    assert result.status == "ok", result
    assert result.waited_seconds > 0.5, result
    assert result.seconds < result.waited_seconds, f"worker {result.seconds:.2f} s, waited {result.waited_seconds:.2f} s"
    reports = [r.getMessage() for r in caplog.records if r.name == "grader.sandbox.slots"]
    assert any(f"pid {holder.pid}" in m for m in reports), reports


def test_probes_on_one_slot_from_two_threads_take_turns(tmp_path: Path) -> None:
    """Two threads given the same leased slot never run workers on it at once."""
    impl = make_impl(tmp_path)
    results = []
    with SlotPool().lease(1) as lease:

        def run() -> None:
            results.append(probe(impl, TIMED_PROBE, {"seconds": 0.5}, uid_slot=lease.slots[0]))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [r.status for r in results] == ["ok", "ok"], results
    first, second = sorted((r.values for r in results), key=lambda v: v["start"])
    assert first["end"] <= second["start"], (first, second)
    assert max(r.waited_seconds for r in results) > 0.3, results


@pytest.mark.timeout(120)
def test_a_handed_off_slot_is_the_childs(tmp_path: Path) -> None:
    """A child given lease.handoff(slot) runs probes on it; the parent may no longer use it."""
    impl = make_impl(tmp_path)
    with SlotPool().lease(1) as lease:
        slot = lease.slots[0]
        handoff = lease.handoff(slot)
        child = python(CHILD_PROBE, str(impl), str(slot), stdout=subprocess.PIPE, pass_fds=handoff.pass_fds,
                       env={**os.environ, **handoff.env})
        output = json.loads(child.communicate(timeout=100)[0])
        with pytest.raises(ValueError, match="handed to a child process"):
            probe(impl, TIMED_PROBE, {"seconds": 0.0}, uid_slot=slot)
    assert output["status"] == "ok", output
    if RUNS_AS_ROOT:
        assert output["values"]["uid"] == SANDBOX_BASE_ID + slot, output


@pytest.mark.skipif(not RUNS_AS_ROOT, reason="without root nothing is locked, so there is no lock to check")
def test_a_handoff_without_its_fd_is_refused_in_the_child(tmp_path: Path) -> None:
    """The env alone (the fd not passed) does not make a slot the child's: run_probe says why."""
    with SlotPool().lease(1) as lease:
        handoff = SlotPool().handoff(lease.slots[0])  # any slot this process holds
        child = python(CHILD_PROBE, str(make_impl(tmp_path)), str(lease.slots[0]), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env={**os.environ, **handoff.env})
        _, stderr = child.communicate(timeout=100)
    assert child.returncode != 0 and "is not a held lock on sandbox slot" in stderr, stderr[-2000:]
