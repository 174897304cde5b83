"""`ProbeResult`, the grader-side outcome of one probe, and the wording of crashes.

Statuses:

- "ok": the probe returned plain data, in `values`;
- "not_implemented": a NotImplementedError (at import or in the call), its message kept;
- "import_error": importing tinytorch raised something else;
- "raised": the call raised any other BaseException (SystemExit and MemoryError included);
- "timeout": the grader killed the worker at the deadline;
- "crashed": the worker ended without a result (os._exit, a signal, a resource limit);
- "bad_output": the probe returned something that is not plain data, or the worker's
  result could not be decoded.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field
from typing import Any

from grader.sandbox.limits import Limits

STATUSES = ("ok", "not_implemented", "import_error", "raised", "timeout", "crashed", "bad_output")


@dataclass
class ProbeResult:
    """What one sandboxed probe run produced; only plain data, decoded by the grader."""

    status: str
    values: dict[str, Any] = field(default_factory=dict)
    error_type: str | None = None
    error_message: str = ""
    seconds: float = 0.0  # the worker's own wall time, start to exit
    output_tail: str = ""
    waited_seconds: float = 0.0  # waiting for a sandbox slot before the worker started
    protections: dict[str, str] = field(default_factory=dict)  # what this worker got (see protections())
    peak_memory_bytes: int | None = None  # the whole worker tree's peak, when a memory cgroup counted it


def timeout_message(limits: Limits, output_tail: str = "") -> str:
    """Explanation for a worker the grader killed at its deadline; where the student's code was,
    from the stack the worker dumped just before it (`stack_dump_after`), when one is there."""
    where = stuck_at(output_tail)
    return (f"exceeded the {limits.wall_seconds:g} s time limit{f' at {where}' if where else ''}; "
            f"the grader killed the worker and all its processes")


def stack_dump_after(limits: Limits) -> float:
    """When the worker dumps its stack: shortly before the grader's deadline for it."""
    return max(0.0, limits.wall_seconds - min(2.0, 0.2 * limits.wall_seconds))


_FRAME = re.compile(r'File "[^"\n]*/tinytorch/([^"\n]{1,200})", line (\d{1,7}) in ([A-Za-z_<][\w<>.]{0,100})')


def stuck_at(output_tail: str) -> str:
    """"tinytorch/training.py:82 in fit": the innermost frame in the student's package of the
    last stack dump in the worker's output (faulthandler lists the most recent call first).
    The output is the submission's own, so this is only a hint, bounded, never trusted."""
    start = output_tail.rfind("most recent call first")
    match = _FRAME.search(output_tail, start if start >= 0 else 0)
    return f"tinytorch/{match.group(1)}:{match.group(2)} in {match.group(3)}" if match else ""


def crash_message(returncode: int, cpu_seconds_used: float, limits: Limits, oom_kills: int = 0) -> str:
    """Explanation for a worker that ended without reporting a result.

    `returncode` follows subprocess conventions (negative: killed by that signal number);
    `oom_kills`: processes the worker's memory cgroup killed for exceeding its limit.
    """
    cpu_limit = limits.effective_cpu_seconds
    if returncode >= 0:
        return (
            f"the worker exited with code {returncode} before reporting a result "
            "(os._exit, or a process that ended itself outside the probe call)"
        )
    signum = -returncode
    name = _signal_name(signum)
    if signum == signal.SIGXCPU or (signum == signal.SIGKILL and cpu_seconds_used >= cpu_limit):
        return f"killed by {name}: exceeded the CPU time limit of {cpu_limit} s (used {cpu_seconds_used:.1f} s)"
    if signum == signal.SIGXFSZ:
        return f"killed by {name}: exceeded the output/file size limit of {limits.file_bytes} bytes"
    if signum == signal.SIGKILL and oom_kills:
        return (
            f"killed by {name}: the worker's processes together exceeded the memory limit of "
            f"{limits.memory_bytes} bytes (memory and scratch files of all its processes count)"
        )
    if signum == signal.SIGKILL:
        return (
            f"killed by {name} before the {limits.wall_seconds:g} s deadline, not by the grader; "
            f"most likely the machine ran out of memory (limit {limits.memory_bytes} bytes of address space)"
        )
    if signum == signal.SIGSEGV:
        return f"crashed with {name} (segmentation fault), for example from unbounded recursion"
    return f"killed by signal {name}"


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
