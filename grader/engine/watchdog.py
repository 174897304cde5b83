"""A watchdog for one grading: a deadline for the whole of it, and a way to stop it early.

    stop = GradingStop()                               # made before grading, so SIGTERM can reach it
    with stop.watch(seconds=3600, uids=[61004, 61005]):
        ... run sessions; each registers its pytest process: with stop.process(proc.pid): ...
    stop.reason                                        # "" when the grading ran to its end

When the deadline passes, or `stop(reason)` is called (the CLI's SIGTERM handler does), the
watchdog kills, every KILL_EVERY_SECONDS until the grading returns: the tree of every sandbox
worker this process has in flight (the public tests, the milestone), as root every process of
the grading's sandbox uids, and every registered process (a hidden-test pytest session): first
SIGTERM, on which it kills its probes' workers and interrupts itself so their temp dirs are
removed, then, TERM_GRACE_SECONDS later, SIGKILL for its whole tree. Each part of the grading then
returns what finished, and `grade` adds a "grading error: <reason>" row. So no grading holds
its sandbox slots past its deadline, whatever a submission does.

Nothing here forks: processes are found in /proc and signalled through pidfds (see
`grader.sandbox.cleanup` for why a threaded grader must not fork).
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from grader.engine.proctree import kill_descendants, parent_of, signal_child
from grader.sandbox import cleanup

KILL_EVERY_SECONDS = 0.1
TERM_GRACE_SECONDS = 3.0
ALARM_MARGIN_SECONDS = 60.0
TREE_ROUNDS = 5


class GradingStop:
    """The stop signal of one grading: `reason` is "" while it may go on."""

    def __init__(self, *, alarm: bool = False) -> None:
        """alarm: also arm SIGALRM (default action: the kernel ends the process) for the deadline
        plus the give-up time plus ALARM_MARGIN_SECONDS, the last resort for a process wedged
        where no Python thread runs. Only for a process that is one grading (the CLI)."""
        self.reason = ""
        self.began = False                  # watch() was entered: the grading has begun
        self.armed = False                  # inside watch(): stopping now kills what runs
        self._alarm = alarm
        self._done = threading.Event()
        self._processes: set[int] = set()
        self._termed: dict[int, float] = {}     # registered process -> when it got SIGTERM
        self._uids: tuple[int, ...] = ()

    def stop(self, reason: str) -> None:
        """Stop the grading (idempotent: the first reason stays). Safe in a signal handler: it
        only sets an attribute, which the watchdog thread polls."""
        if not self.reason:
            self.reason = reason

    @contextlib.contextmanager
    def watch(self, seconds: float, uids: Iterable[int] = (), *, give_up_after: float | None = None,
              on_stuck: Callable[[str], None] | None = None) -> Iterator[GradingStop]:
        """Arm the watchdog for `seconds` (the whole grading's deadline) and `uids` (its sandbox
        uids, as root); on leaving, stop killing and reap what was killed.

        on_stuck(reason): called from the watchdog thread when the grading has not returned
        `give_up_after` seconds after it was stopped (the CLI then writes what it knows and
        exits); by default the watchdog keeps killing."""
        self._uids = tuple(uids)
        self._done.clear()
        thread = threading.Thread(target=self._run, args=(seconds, give_up_after, on_stuck),
                                  name="grading-watchdog", daemon=True)
        self.began = self.armed = True
        if self._alarm:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(math.ceil(seconds + (give_up_after or 0.0) + ALARM_MARGIN_SECONDS))
        thread.start()
        try:
            yield self
        finally:
            if self._alarm:
                signal.alarm(0)
            self._done.set()
            thread.join()
            self.armed = False
            if self.reason:
                for pid in list(self._processes):
                    kill_tree(pid, os.getpid())
                self._kill()
                cleanup.reap_orphans()

    @contextlib.contextmanager
    def process(self, pid: int) -> Iterator[None]:
        """Kill process `pid` (and its tree) if the grading stops while it runs."""
        self._processes.add(pid)
        try:
            yield
        finally:
            self._processes.discard(pid)
            self._termed.pop(pid, None)

    def _run(self, seconds: float, give_up_after: float | None, on_stuck: Callable[[str], None] | None) -> None:
        deadline = time.monotonic() + max(0.0, seconds)
        while not self.reason:
            if self._done.wait(KILL_EVERY_SECONDS):
                return
            if time.monotonic() >= deadline:
                self.stop(f"deadline ({seconds:.0f} s for the whole grading)")
        stopped = time.monotonic()
        while True:                         # until the grading returns: a probe started late dies too
            self._kill()
            if self._done.wait(KILL_EVERY_SECONDS):
                return
            if on_stuck is not None and give_up_after is not None and time.monotonic() - stopped > give_up_after:
                on_stuck(self.reason)
                on_stuck = None

    def _kill(self) -> None:
        """Workers at once; a registered session first gets SIGTERM (it interrupts itself and
        removes its probes' temp dirs), and its whole tree SIGKILL after TERM_GRACE_SECONDS."""
        now = time.monotonic()
        with cleanup.SPAWN_LOCK:
            workers = list(cleanup.IN_FLIGHT)
        for pid in workers:
            kill_tree(pid, os.getpid())
        for uid in self._uids:
            cleanup.kill_uid(uid)
        for pid in list(self._processes):
            first = self._termed.setdefault(pid, now)
            if first == now:
                signal_child(pid, os.getpid(), signal.SIGTERM)
            elif now - first > TERM_GRACE_SECONDS:
                kill_tree(pid, os.getpid())


def kill_tree(root: int, parent: int) -> None:
    """SIGKILL `root` (a child of `parent`), its descendants (stopped first, so none forks
    meanwhile) and its process group. `root` is pinned with a pidfd and its parent checked
    before anything is signalled, and so is each descendant, so a reused pid is never hit."""
    try:
        root_fd = os.pidfd_open(root)
    except OSError:
        return
    try:
        if parent_of(root) != parent:   # gone, a zombie already, or a stranger with a reused pid
            return
        kill_descendants(root, rounds=TREE_ROUNDS)
        if os.getpgid(root) == root:    # a session leader (pytest sessions, workers): its group
            cleanup.kill_group(root)
        signal.pidfd_send_signal(root_fd, signal.SIGKILL)
    except OSError:
        pass
    finally:
        os.close(root_fd)
