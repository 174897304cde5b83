"""Stop a grading and everything it started: the job process, its pytest sessions, their
sandbox workers and anything those left behind.

    kill_tree(job.pid)             # from the batch: descendants first, then the job itself
    kill_tree(os.getpid(), include_root=False)   # from inside a job, before it exits

The tree is read from /proc (each process's parent), so a test session started in its own
session, or a worker that setsid-ed and double-forked (re-parented to the job, a child
subreaper), is still found. Each process is pinned with pidfd_open and its parent checked
again before it is signalled, so a pid reused in between is never hit. Killing repeats until
a scan finds nothing, so a process forked during one scan is caught by the next.
"""
from __future__ import annotations

import os
import signal
import time

ROUNDS = 20


def _parents() -> dict[int, int]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = _parent(int(entry))
            if ppid is not None:
                table[int(entry)] = ppid
    return table


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2:].split()
    if len(fields) < 2 or fields[0] in (b"Z", b"X"):    # a zombie is dead already; its parent reaps it
        return None
    return int(fields[1])


def descendants(root: int) -> list[int]:
    """Every process below `root`, parents before their children."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        for child in children.get(pid, ()):
            if child not in found:
                found.append(child)
                frontier.append(child)
    return found


def _signal_if_child_of(pid: int, parent: int, sig: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        if _parent(pid) == parent:
            signal.pidfd_send_signal(fd, sig)
    except OSError:
        pass
    finally:
        os.close(fd)


def kill_tree(root: int, *, include_root: bool = True) -> None:
    """SIGKILL every descendant of `root` (and `root` itself unless told not to)."""
    for _ in range(ROUNDS):
        table = _parents()
        below = descendants(root)
        if not below:
            break
        for pid in below:
            if pid in table:
                _signal_if_child_of(pid, table[pid], signal.SIGSTOP)
        for pid in below:
            if pid in table:
                _signal_if_child_of(pid, table[pid], signal.SIGKILL)
        time.sleep(0.02)
    if include_root:
        try:
            os.kill(root, signal.SIGKILL)
        except OSError:
            pass
