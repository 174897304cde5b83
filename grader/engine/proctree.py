"""Process trees read from /proc, signalled without forking and without hitting reused pids.

    below = descendants(root)             # [(pid, parent), ...], parents before their children
    kill_descendants(root, rounds=5)      # SIGSTOP then SIGKILL everything below root, until none is left

Each process is pinned with pidfd_open and its parent checked again before it is signalled,
so a pid reused in between is never hit. Used by the grading watchdog and by batch jobs.
"""
from __future__ import annotations

import os
import signal
import time


def parent_of(pid: int) -> int | None:
    """The parent of live process `pid`, or None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        fields = data[data.rindex(b")") + 2:].split()
    except (OSError, ValueError):
        return None
    if len(fields) < 2 or fields[0] in (b"Z", b"X"):    # a zombie is dead already; its parent reaps it
        return None
    return int(fields[1])


def descendants(root: int) -> list[tuple[int, int]]:
    """(pid, parent) of every live process below `root`, parents before their children."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = parent_of(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    found: list[tuple[int, int]] = []
    frontier = [root]
    seen = {root}
    while frontier:
        parent = frontier.pop()
        for pid in children.get(parent, ()):
            if pid not in seen:
                seen.add(pid)
                found.append((pid, parent))
                frontier.append(pid)
    return found


def signal_child(pid: int, parent: int, sig: int) -> None:
    """Send `sig` to `pid` only if it is still the child of `parent` (pinned by a pidfd)."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        if parent_of(pid) == parent:
            signal.pidfd_send_signal(fd, sig)
    except OSError:
        pass
    finally:
        os.close(fd)


def kill_descendants(root: int, *, rounds: int, pause: float = 0.0) -> None:
    """SIGKILL everything below `root`, stopped first so none forks meanwhile; repeat until a
    scan finds nothing (at most `rounds` scans, `pause` seconds apart)."""
    for _ in range(rounds):
        below = descendants(root)
        if not below:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid, parent in below:
                signal_child(pid, parent, sig)
        if pause:
            time.sleep(pause)
