"""Resource limits for one sandboxed probe run.

`Limits` is what a hidden test may tune; every field maps to one mechanism:

- `wall_seconds`: the grader's deadline; past it the worker's whole process group (and every
  process of the sandbox uid) is SIGKILLed and the result is "timeout".
- `cpu_seconds`: RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL one second later).
- `memory_bytes`: RLIMIT_AS (address space of each process; NumPy then raises MemoryError)
  and, where a memory cgroup is available, memory.max of the whole worker tree (every
  process's memory and the scratch files together; the kernel kills past it).
- `file_bytes`: RLIMIT_FSIZE (largest file the worker may write, its log included).
- `processes`: RLIMIT_NPROC (processes and threads of the sandbox uid) and pids.max of the
  worker's cgroup.
- `scratch_bytes`: size of the tmpfs mounted over the worker's box (root only), its only
  writable place: filling it fails with ENOSPC and never touches the shared temp dir.

Which of these mechanisms a machine offers: `grader.sandbox.protections()`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Resource limits applied to the worker before any student code runs."""

    wall_seconds: float = 20.0
    cpu_seconds: int | None = None
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 64 * 1024**2
    processes: int = 64
    scratch_bytes: int = 256 * 1024**2

    def __post_init__(self) -> None:
        checks = {
            "wall_seconds": self.wall_seconds,
            "memory_bytes": self.memory_bytes,
            "file_bytes": self.file_bytes,
            "processes": self.processes,
            "scratch_bytes": self.scratch_bytes,
        }
        if self.cpu_seconds is not None:
            checks["cpu_seconds"] = self.cpu_seconds
        for name, value in checks.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 2**62 or not math.isfinite(value):
                raise ValueError(f"Limits.{name} must be a positive, finite number below 2**62, got {value!r}")

    @property
    def effective_cpu_seconds(self) -> int:
        """RLIMIT_CPU soft limit: `cpu_seconds`, or ceil(wall_seconds) + 2 when unset."""
        if self.cpu_seconds is not None:
            return int(self.cpu_seconds)
        return math.ceil(self.wall_seconds) + 2
