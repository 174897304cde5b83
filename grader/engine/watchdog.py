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

A student's own check (`grader check` without --hidden) has a watch of its own for its test
session, `watch_session`: a session whose results stop coming (a loop that ignores the test's
time limit, code that hangs at import) is killed after a few seconds, not at the deadline, and
first asked for its stack, so the report names the line.

Nothing here forks: processes are found in /proc and signalled through pidfds (see
`grader.sandbox.cleanup` for why a threaded grader must not fork).
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from grader.engine.proctree import kill_descendants, parent_of, signal_child
from grader.sandbox import cleanup

KILL_EVERY_SECONDS = 0.1
TERM_GRACE_SECONDS = 3.0
ALARM_MARGIN_SECONDS = 60.0
TREE_ROUNDS = 5
POLL_SECONDS = 0.1                  # watch_session: how often it looks at the session
STACK_PAUSE_SECONDS = 0.3           # watch_session: between asking for the stack and the kill


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


def watch_session(proc: subprocess.Popen[bytes], progress: Path, *, hard_seconds: float,
                  stall_seconds: float) -> str:
    """Wait for `proc`, the test session of a student's own check, to end.

    Returns "" when it ended by itself; otherwise it was killed (its whole tree) and the answer
    says why: "stalled" (its results file `progress` did not grow for `stall_seconds`: no test
    finished, none started, collection never ended) or "deadline" (`hard_seconds` passed).
    Before the kill it gets SIGUSR1, on which it writes every thread's stack (faulthandler, set
    up by `student_session._student_session_main`), so the report can name the student's line."""
    started = last = time.monotonic()
    size = -1
    while True:
        try:
            proc.wait(timeout=POLL_SECONDS)
            return ""
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        try:
            current = progress.stat().st_size
        except OSError:
            current = 0
        if current != size:
            size, last = current, now
        why = "deadline" if now - started >= hard_seconds else "stalled" if now - last >= stall_seconds else ""
        if why:
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGUSR1)    # our unreaped child: its pid cannot be reused
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STACK_PAUSE_SECONDS)
            kill_session(proc)
            return why


def kill_session(proc: subprocess.Popen[bytes]) -> None:
    """Kill `proc` (a session leader this process started) and its tree, and reap it; on macOS,
    which has no pidfds, its process group."""
    if proc.poll() is None:
        if hasattr(os, "pidfd_open"):
            kill_tree(proc.pid, os.getpid())
        else:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
