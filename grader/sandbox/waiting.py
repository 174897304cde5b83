"""Waiting for a child process to exit, without reaping it (the runner reaps it with wait4
after killing its group, so its pid cannot be reused in between)."""
from __future__ import annotations

import os
import select
import time


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until child `pid` exits (without reaping it) or `timeout` seconds pass."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return poll_for_exit(pid, timeout)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(min(max(0, int(timeout * 1000)), 2**31 - 1)))
    finally:
        os.close(pidfd)


def poll_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while time.monotonic() < deadline:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return False
