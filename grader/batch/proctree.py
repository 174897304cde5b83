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

from grader.engine import proctree

ROUNDS = 20


def descendants(root: int) -> list[int]:
    """Every process below `root`, parents before their children."""
    return [pid for pid, _ in proctree.descendants(root)]


def kill_tree(root: int, *, include_root: bool = True) -> None:
    """SIGKILL every descendant of `root` (and `root` itself unless told not to)."""
    proctree.kill_descendants(root, rounds=ROUNDS, pause=0.02)
    if include_root:
        try:
            os.kill(root, signal.SIGKILL)
        except OSError:
            pass
