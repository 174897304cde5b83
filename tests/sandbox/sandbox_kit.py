"""Shared helpers of the sandbox tests: a fake `tinytorch`, a probe runner on this test
process's own leased slot, and process bookkeeping.

Every test builds a tiny fake `tinytorch` package in tmp_path (a function `add(a, b)`, or a
variant that misbehaves) and runs a probe against it through `run_probe`.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from grader.sandbox import Limits, ProbeResult, SlotLease, SlotPool, cleanup, run_probe
from grader.sandbox.privileges import sandbox_id

LINUX_ONLY = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox needs Linux")
QUICK = Limits(wall_seconds=3.0, memory_bytes=1024**3)
CASES = Path(__file__).resolve().parents[1] / "sandbox_cases"
SECRET_FIXTURE = CASES / "secret.txt"
SECRET_TEXT = "SANDBOX-SECRET-FIXTURE"

ADD_PACKAGE = """
import numpy as np

def add(a, b):
    return np.asarray(a) + np.asarray(b)
"""

_LEASE: SlotLease | None = None


def slot() -> int:
    """This test process's sandbox slot, leased from the machine's pool on first use and held
    until the process exits, so concurrent test runs and graders never share it."""
    global _LEASE
    if _LEASE is None:
        _LEASE = SlotPool().lease(1)
    return _LEASE.slots[0]


def sandbox_uid() -> int:
    return sandbox_id(slot())


def make_impl(tmp_path: Path, body: str = ADD_PACKAGE, name: str = "impl") -> Path:
    """A directory holding tinytorch/__init__.py with `body` (dedented)."""
    package = tmp_path / name / "tinytorch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(body))
    return package.parent


def probe(impl: Path, source: str, inputs: dict | None = None, limits: Limits = QUICK, **kwargs) -> ProbeResult:
    """run_probe on our slot with the function named `probe` in `source` (dedented)."""
    kwargs.setdefault("uid_slot", slot())
    return run_probe(impl, textwrap.dedent(source), "probe", inputs, limits=limits, **kwargs)


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
