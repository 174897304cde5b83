"""Leave nothing behind: kill every process a sandbox started, and remove its temp dir.

Three nets, from coarse to fine:

1. `kill_group`: SIGKILL the worker's process group (the worker is a session leader).
2. `kill_uid` (grader running as root): scan /proc for every process whose real or saved
   uid is the sandbox uid, wherever it is in the process tree (setsid and double forks
   included), and SIGKILL each through a pidfd, rescanning until a scan finds none.
3. `reap_orphans`: the grader process is a child subreaper, so every orphaned descendant of
   a worker is re-parented to it. Every child of the grader that is a sandbox process and
   not a worker still in flight is SIGSTOPped (no more forking), SIGKILLed and reaped, until
   none is left. A sandbox process is one outside the grader's session that runs as a
   sandbox uid, or has no_new_privs set while the grader has not (every worker sets it
   before student code runs, and it is inherited and irrevocable). Other children of the
   grader, e.g. pytest sessions it started with start_new_session, are never touched.

`sweep` repeats all three until nothing is left.

Nothing here forks. The grader runs threads and NumPy, and fork() in a threaded process
copies only the calling thread: a lock another thread held (OpenBLAS's, malloc's) stays
locked forever in the child, and OpenBLAS's own fork handler can hang the parent. So
`kill_uid` does not fork a helper that switches to the sandbox uid and calls kill(-1), the
classic way; it signals each process itself, as root. Each target is pinned with
pidfd_open before its uid is checked, so a pid reused between the check and the signal
is never hit (the signal goes to the pinned, dead process and fails). Unlike kill(-1) one
scan is not atomic against fork, but a process forked during a scan is found by the next
one, and RLIMIT_NPROC bounds how many there can be. (Workers are started with
subprocess, which uses vfork/exec here: no fork handlers run in the grader.)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.privileges import MAX_SLOTS, SANDBOX_BASE_ID

_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)

# Workers in flight, by pid; guarded by SPAWN_LOCK so a concurrent sweep never sees a worker
# between its fork and its registration.
SPAWN_LOCK = threading.Lock()
IN_FLIGHT: set[int] = set()

SWEEP_SECONDS = 10.0
_KILL_ROUNDS = 3


def become_subreaper() -> None:
    """Make this process the reaper of its orphaned descendants (idempotent)."""
    if _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(err)}")


def kill_group(pgid: int) -> None:
    """SIGKILL process group `pgid`; a group that no longer exists is fine."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_uid(uid: int) -> int:
    """SIGKILL every process whose real or saved uid is `uid`, rescanning /proc until a scan
    finds none (or _KILL_ROUNDS scans); return how many were signalled. Needs root (or `uid`).

    These are exactly the processes a helper running as `uid` would reach with kill(-1).
    """
    total = 0
    for _ in range(_KILL_ROUNDS):
        signalled = sum(_kill_if_uid(pid, uid) for pid in _pids() if _has_uid(pid, uid))
        total += signalled
        if not signalled:
            break
    return total


def _kill_if_uid(pid: int, uid: int) -> bool:
    """SIGKILL `pid` if its real or saved uid is `uid`, pinning it with a pidfd first;
    return whether a live (non-zombie) process was signalled."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    except OSError:  # no pidfd (kernel < 5.3, or a seccomp filter): a pid reuse race remains
        status = _status(pid)
        if status is None or uid not in (status.real_uid, status.saved_uid):
            return False
        _signal(pid, signal.SIGKILL)
        return not status.zombie
    try:
        status = _status(pid)  # read after pinning: it is the pinned process's, or that one is gone
        if status is None or uid not in (status.real_uid, status.saved_uid):
            return False
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        return not status.zombie
    except (ProcessLookupError, PermissionError):
        return False
    finally:
        os.close(pidfd)


def _has_uid(pid: int, uid: int) -> bool:
    status = _status(pid)
    return status is not None and uid in (status.real_uid, status.saved_uid)


def processes_of_uid(uid: int) -> list[int]:
    """Pids of live (non-zombie) processes whose real or saved uid is `uid`, from /proc."""
    found = []
    for pid in _pids():
        status = _status(pid)
        if status is not None and uid in (status.real_uid, status.saved_uid) and not status.zombie:
            found.append(pid)
    return found


def _pids() -> list[int]:
    """Every process (thread group) id in /proc."""
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def is_sandbox_process(pid: int) -> bool:
    """Whether child `pid` belongs to a sandbox (see the module docstring)."""
    status = _status(pid)
    if status is None or _session(pid) in (None, os.getsid(0)):
        return False
    if SANDBOX_BASE_ID <= status.real_uid < SANDBOX_BASE_ID + MAX_SLOTS:
        return True
    grader = _status(os.getpid())
    return status.no_new_privs and grader is not None and not grader.no_new_privs


def reap_orphans() -> int:
    """Stop, kill and reap every sandbox child of this process not in IN_FLIGHT, repeatedly
    (their own children are re-parented here as they die); return how many."""
    total = 0
    deadline = time.monotonic() + SWEEP_SECONDS
    while time.monotonic() < deadline:
        with SPAWN_LOCK:
            victims = [pid for pid in children() if pid not in IN_FLIGHT and is_sandbox_process(pid)]
            for sig in (signal.SIGSTOP, signal.SIGKILL):
                for pid in victims:
                    _signal(pid, sig)
        if not victims:
            break
        for pid in victims:
            _reap(pid, deadline)
        total += len(victims)
    return total


def sweep(pgid: int | None, uid: int | None) -> None:
    """Kill the worker's group, every process of `uid` (when given) and every orphan; reap all.

    Raises RuntimeError naming the pids if something survives SWEEP_SECONDS of this.
    """
    if pgid is not None:
        kill_group(pgid)
    deadline = time.monotonic() + SWEEP_SECONDS
    while True:
        killed = kill_uid(uid) if uid is not None else 0  # 0: its scan found no live process of uid
        reaped = reap_orphans()
        if killed == 0 and reaped == 0:
            return
        if time.monotonic() > deadline:
            survivors = processes_of_uid(uid) if uid is not None else []
            raise RuntimeError(f"sandbox processes {survivors} of uid {uid} survived {SWEEP_SECONDS} s of killing")
        time.sleep(0.001)


def remove_tree(path: Path) -> None:
    """Delete `path` recursively even if sandboxed code removed permissions inside it."""
    if os.path.lexists(path):
        _rmtree(str(path))


def _rmtree(path: str) -> None:
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=_fix_and_retry)
    else:
        shutil.rmtree(path, onerror=_fix_and_retry)


def _fix_and_retry(function: Callable[..., object], failed: str, _exc: object) -> None:
    """rmtree error handler: give the owner rwx on the path and its parent, then retry."""
    for target in (os.path.dirname(failed), failed):
        with contextlib.suppress(OSError):
            if not os.path.islink(target):
                os.chmod(target, stat.S_IRWXU)
    with contextlib.suppress(FileNotFoundError):
        if os.path.isdir(failed) and not os.path.islink(failed):
            _rmtree(failed)
        else:
            os.unlink(failed)


def children() -> list[int]:
    """Pids of this process's children (children of any of its threads), from /proc."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        tasks = []
    pids: set[int] = set()
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children") as handle:
                pids.update(int(p) for p in handle.read().split())
        except FileNotFoundError:  # the thread ended, or no CONFIG_PROC_CHILDREN
            continue
    if not pids and not os.path.exists(f"/proc/self/task/{os.getpid()}/children"):
        me = os.getpid()
        pids = {int(e) for e in os.listdir("/proc") if e.isdigit() and _parent_and_session(int(e))[0] == me}
    return sorted(pids)


def _parent_and_session(pid: int) -> tuple[int | None, int | None]:
    """(ppid, session id) of `pid` from /proc/<pid>/stat, or (None, None) if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        fields = data[data.rindex(b")") + 2 :].split()  # state ppid pgrp session ...
        return int(fields[1]), int(fields[3])
    except (OSError, ValueError, IndexError):
        return None, None


@dataclass(frozen=True)
class _Status:
    real_uid: int
    saved_uid: int
    no_new_privs: bool
    zombie: bool


def _status(pid: int) -> _Status | None:
    """The fields of /proc/<pid>/status that cleanup needs, or None if `pid` is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            data = handle.read()
        uids = _field(data, b"Uid").split()
        return _Status(
            real_uid=int(uids[0]),
            saved_uid=int(uids[2]),
            no_new_privs=(_field(data, b"NoNewPrivs") or b"0").strip() == b"1",
            zombie=(_field(data, b"State") or b"").split()[:1] in ([b"Z"], [b"X"]),
        )
    except (OSError, AttributeError, IndexError, ValueError):
        return None


def _field(data: bytes, name: bytes) -> bytes | None:
    """The value of line `name:` of a /proc status file, or None. Only the first line (Name:)
    can hold text of the process's choosing, and the kernel escapes newlines in it, so the
    first b"\\n<name>:" is the kernel's own line. (Scans run every probe: no per-line dict.)"""
    start = data.find(b"\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 2
    end = data.find(b"\n", start)
    return data[start:] if end < 0 else data[start:end]


def _session(pid: int) -> int | None:
    return _parent_and_session(pid)[1]


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(pid: int, deadline: float) -> None:
    """Wait (polling) until `pid`, a killed child, is reaped, or the deadline passes."""
    delay = 0.0005
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done == pid or time.monotonic() > deadline:
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
