"""`protections()`: which protections a sandboxed worker gets on this machine, for the report.

    >>> from grader.sandbox import protections
    >>> protections()
    {'uid drop': 'uid 61999', 'Landlock': 'ABI 7', 'mount namespace': 'private; 1 directory covered',
     'network namespace': 'private, no interface up', 'pid namespace': 'private, own /proc, hidepid=invisible',
     'cgroup': 'v1 memory.limit_in_bytes 2048 MiB, v1 pids.max 67, v1 cpu.shares 1024',
     'scratch': 'tmpfs of 256 MiB over the box', 'seccomp': 'sockets: ...', 'rlimits': 'always: ...'}

Every value starts with "unavailable" where the protection is missing, followed by why
(no root, no cgroup v2 controller, a kernel without Landlock ...). Found by running one empty
probe, the way every probe runs, and cached for the process; each probe's own record is
`ProbeResult.protections`.

Where one is missing, grading goes on with the rest: without root there is no uid drop, no
namespaces, no scratch tmpfs and no cgroup (the rlimits and, where the kernel has them,
Landlock, seccomp and an unprivileged network namespace remain).
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from grader.sandbox.limits import Limits
from grader.sandbox.runner import run_probe

KEYS = ("uid drop", "Landlock", "mount namespace", "network namespace", "pid namespace", "cgroup", "scratch", "seccomp", "rlimits")
_CACHE: dict[str, str] = {}
_LOCK = threading.Lock()


def protections(refresh: bool = False) -> dict[str, str]:
    """Protection name -> what a worker gets here (see KEYS); "unavailable: why" when missing."""
    with _LOCK:
        if refresh or not _CACHE:
            _CACHE.clear()
            _CACHE.update(_trial())
        return dict(_CACHE)


def _trial() -> dict[str, str]:
    """Run one empty probe and read what its worker got."""
    with tempfile.TemporaryDirectory(prefix="tinytorch-protections-") as folder:
        package = Path(folder) / "tinytorch"
        package.mkdir()
        (package / "__init__.py").write_text("")
        result = run_probe(Path(folder), "def probe(tt):\n    return {}\n", "probe", {}, limits=Limits(wall_seconds=30))
    found = dict(result.protections)
    if result.status != "ok":
        why = f"the trial probe ended {result.status}: {result.error_message}"
        return {key: found.get(key, f"unavailable: {why}") for key in KEYS}
    return {key: found.get(key, "unavailable: not reported by the worker") for key in KEYS}
