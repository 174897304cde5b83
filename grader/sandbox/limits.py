"""Resource limits for one sandboxed probe run.

`Limits` is what a hidden test may tune; every field maps to one mechanism:

- `wall_seconds`: the grader's deadline; past it the worker's whole process group (and every
  process of the sandbox uid) is SIGKILLed and the result is "timeout".
- `cpu_seconds`: RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL one second later).
- `memory_bytes`: RLIMIT_AS (address space; NumPy then raises MemoryError).
- `file_bytes`: RLIMIT_FSIZE (largest file the worker may write, its log included).
- `processes`: RLIMIT_NPROC (processes and threads of the sandbox uid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Resource limits applied to the worker before any student code runs."""

    wall_seconds: float = 20.0
    cpu_seconds: int | None = None
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 64 * 1024**2
    processes: int = 64

    def __post_init__(self) -> None:
        checks = {
            "wall_seconds": self.wall_seconds,
            "memory_bytes": self.memory_bytes,
            "file_bytes": self.file_bytes,
            "processes": self.processes,
        }
        if self.cpu_seconds is not None:
            checks["cpu_seconds"] = self.cpu_seconds
        for name, value in checks.items():
            if not value > 0:
                raise ValueError(f"Limits.{name} must be positive, got {value!r}")

    @property
    def effective_cpu_seconds(self) -> int:
        """RLIMIT_CPU soft limit: `cpu_seconds`, or ceil(wall_seconds) + 2 when unset."""
        if self.cpu_seconds is not None:
            return int(self.cpu_seconds)
        return math.ceil(self.wall_seconds) + 2
