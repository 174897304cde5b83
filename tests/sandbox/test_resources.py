"""Resources counted for the whole worker tree: memory across processes (cgroup), a private
sized scratch for files, and a report of which protections this machine gives."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from sandbox_kit import LINUX_ONLY, make_impl, probe, sandbox_uid, slot

from grader.sandbox import Limits, cgroups, protections
from grader.sandbox.protections import KEYS
from grader.sandbox.runner import RUNS_AS_ROOT

pytestmark = LINUX_ONLY

MEMORY_BOMB = """
import os, select, struct, time
import numpy as np

def probe(tt, children, mb):
    read_end, write_end = os.pipe()
    pids = set()
    for _ in range(children):
        pid = os.fork()
        if pid == 0:
            try:  # never return into the worker: only the probe process reports
                os.close(read_end)
                hold = np.ones(mb * 1024 * 1024 // 8)  # written, so resident
                os.write(write_end, struct.pack("i", os.getpid()))
                time.sleep(60)
            finally:
                os._exit(0)
        pids.add(pid)
    os.close(write_end)
    holding, dead = set(), set()
    deadline = time.monotonic() + 20
    while holding | dead != pids and time.monotonic() < deadline:
        if select.select([read_end], [], [], 0.05)[0]:
            data = os.read(read_end, 4 * children)
            holding.update(struct.unpack(f"{len(data) // 4}i", data[: len(data) // 4 * 4]))
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            dead.add(pid)
    return {"held": len(holding), "dead": len(dead), "alive_and_holding": len(holding - dead)}
"""


@pytest.mark.timeout(120)
def test_memory_bomb_across_40_processes_stops_at_the_cgroup_total(tmp_path: Path) -> None:
    """40 children of 50 MB each (2 GB, every one within its own 512 MB RLIMIT_AS): the
    tree never holds more than the 512 MB limit; the kernel kills children (v1) or the
    whole worker (v2, memory.oom.group), and the grader says why."""
    if "memory" not in [c for h in cgroups.discover().hierarchies for c in h.controllers]:
        pytest.skip(f"no memory cgroup: {cgroups.describe()}")
    limit = 512 * 1024**2
    result = probe(make_impl(tmp_path), MEMORY_BOMB, {"children": 40, "mb": 50}, Limits(wall_seconds=40, memory_bytes=limit))
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes <= limit, result.peak_memory_bytes
    if result.status == "crashed":
        assert "together exceeded the memory limit of 536870912 bytes" in result.error_message, result
    else:
        assert result.status == "ok", result
        alive = result.values["alive_and_holding"]
        assert result.values["dead"] > 0 and alive * 50 * 1024**2 <= limit, result.values


@pytest.mark.skipif(not RUNS_AS_ROOT, reason="the scratch tmpfs is mounted in the worker's own mount namespace (root)")
def test_filling_the_scratch_stops_at_its_size_and_leaves_the_temp_dir_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writing until the disk is full stops at the 16 MB scratch (ENOSPC), far below the
    64 MB file limit, on a file system that is not the shared temp dir's; afterwards the
    temp dir holds nothing of the probe."""
    temp = Path(tempfile.mkdtemp(prefix="tinytorch-scratch-test-"))
    os.chmod(temp, 0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    try:
        result = probe(
            make_impl(tmp_path),
            """
            import errno, os
            def probe(tt):
                written, error = 0, ""
                chunk = b"x" * (1024 * 1024)
                for n in range(4):  # several files: each stays under RLIMIT_FSIZE
                    try:
                        with open(f"fill{n}.bin", "wb") as handle:
                            for _ in range(48):
                                handle.write(chunk)
                                handle.flush()
                                written += len(chunk)
                    except OSError as exc:
                        error = errno.errorcode.get(exc.errno, str(exc.errno))
                        break
                stats = os.statvfs(".")
                return {"written": written, "error": error, "size": stats.f_blocks * stats.f_frsize,
                        "device": os.stat(".").st_dev}
            """,
            limits=Limits(wall_seconds=20, file_bytes=64 * 1024**2, scratch_bytes=16 * 1024**2),
        )
        left = os.listdir(temp)
        temp_device = os.stat(temp).st_dev
    finally:
        monkeypatch.undo()
        os.rmdir(temp)
    assert result.status == "ok", result
    values = result.values
    assert values["error"] == "ENOSPC" and values["written"] <= 16 * 1024**2, values
    assert values["size"] == 16 * 1024**2, values
    assert values["device"] != temp_device, "the box is on the temp dir's file system"
    assert left == [], f"left behind in the temp dir: {left}"


def test_protections_name_every_protection_and_what_this_machine_gives(tmp_path: Path) -> None:
    """protections() has one line per protection; as root the uid drop and the namespaces
    are in force (never "unavailable"), and each probe carries its own record of the same."""
    found = protections()
    assert tuple(found) == KEYS and all(isinstance(v, str) and v for v in found.values()), found
    result = probe(make_impl(tmp_path), "def probe(tt):\n    return {}\n")
    assert result.status == "ok", result
    assert set(result.protections) == set(KEYS), result.protections
    if RUNS_AS_ROOT:
        assert result.protections["uid drop"] == f"uid {sandbox_uid()}"
        for key in ("mount namespace", "network namespace", "pid namespace", "scratch"):
            assert not found[key].startswith("unavailable"), (key, found[key])
            assert result.protections[key].split(";")[0] == found[key].split(";")[0], key


def test_no_cgroup_is_left_behind_after_a_probe(tmp_path: Path) -> None:
    """The worker's cgroup directories are gone once run_probe returns."""
    result = probe(make_impl(tmp_path), "def probe(tt):\n    return {}\n")
    assert result.status == "ok", result
    leftovers = [
        os.path.join(h.parent, f"tinytorch-slot{slot()}")
        for h in cgroups.discover().hierarchies
        if os.path.exists(os.path.join(h.parent, f"tinytorch-slot{slot()}"))
    ]
    assert leftovers == []
