"""Run student code in a locked-down worker process and get back only plain data.

    from grader.sandbox import run_probe, ProbeResult, Limits, SlotPool

`run_probe` (runner.py) is the whole public API for a probe; `SlotPool` (slots.py) leases
sandbox uid slots for a caller that runs several probes or hands slots to subprocesses.
`protections()` says which protections a worker gets on this machine, for the grader to
report (uid drop, Landlock, mount/network/pid namespaces, cgroup, scratch, seccomp, rlimits;
"unavailable: why" where one is missing); `LANDLOCK_ABI` / `LANDLOCK_AVAILABLE` and
`DROPS_PRIVILEGES` are the static part of it.
Files: limits.py (Limits), result.py (ProbeResult), protocol.py (plain-data encoding),
workspace.py (temp dirs, the bounded copy of the submission), worker.py (the sandboxed
process), zygote.py and zygote_process.py (the pre-started process workers are forked from), landlock.py, privileges.py (sandbox uid, covering the checkout), namespaces.py
(network, pid and mount namespaces, scratch tmpfs), seccomp.py (socket filter), cgroups.py
(per-worker memory, pids and CPU share), protections.py, slots.py and slot_locks.py
(leasing uid slots), cleanup.py (killing and reaping everything afterwards), waiting.py (waiting
for a worker to exit without reaping it).
"""

from grader.sandbox.landlock import ABI as LANDLOCK_ABI
from grader.sandbox.landlock import AVAILABLE as LANDLOCK_AVAILABLE
from grader.sandbox.limits import Limits
from grader.sandbox.protections import protections
from grader.sandbox.result import STATUSES, ProbeResult
from grader.sandbox.runner import RUNS_AS_ROOT as DROPS_PRIVILEGES
from grader.sandbox.runner import run_probe
from grader.sandbox.slots import SlotLease, SlotPool, SlotWait

__all__ = [
    "DROPS_PRIVILEGES",
    "LANDLOCK_ABI",
    "LANDLOCK_AVAILABLE",
    "STATUSES",
    "Limits",
    "ProbeResult",
    "SlotLease",
    "SlotPool",
    "SlotWait",
    "protections",
    "run_probe",
]
