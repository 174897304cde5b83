"""Sandbox uid slots, leased from a pool: graders on one machine never share a slot, and
never wait for one without saying so.

    from grader.sandbox.slots import SlotPool

    with SlotPool().lease(2 + workers, wait_report=print) as lease:
        public_slot, *shard_slots = lease.slots      # distinct; uid = 61000 + slot
        run_probe(impl, source, "probe", inputs, uid_slot=public_slot)

A slot selects the sandbox uid 61000 + slot (`privileges.sandbox_id`). While a lease holds
a slot, nothing else does: no other lease in this process (any thread) or in any other
process on the machine. So cleanup may kill every process of that uid, and two graders
never queue behind each other while free slots remain.

How (slot_locks.py): one lock file per slot in a lock directory owned by the grader's user
and writable by no one else (as root, /run/tinytorch-sandbox-slots), opened with O_NOFOLLOW
through the directory's fd. A lease tries a non-blocking flock on each candidate, highest slot first,
keeps the ones it gets and writes its pid and command line into them, so that a waiting
grader can say who holds what. The kernel drops the locks of a process that dies, so a
crashed grader never leaks slots. When fewer than n are free, `lease` gives back what it
took, pauses and tries again (all or nothing: two big leases can never deadlock holding
halves each), and calls `wait_report` with a `SlotWait` at once, every `report_every`
seconds, and when it finally has them. There is no queue: waiting leases are not served
in order.

Without root no uid is switched, so a slot names nothing outside this process: the pool
keeps leases distinct within the process and never touches the disk or waits for another
process. `SlotPool(lock_dir=...)` locks in that directory whoever runs it (tests do this).

Handing slots to a child process, e.g. a pytest session whose tests call `run_probe`:

    handoff = lease.handoff(slot)          # or SlotPool().handoff(slot): any slot held here
    subprocess.Popen(cmd, env={**env, **handoff.env}, pass_fds=handoff.pass_fds)

The child inherits the open lock file, and with it the lock (a flock belongs to the open
file, which both processes then share); in the child `run_probe(uid_slot=slot)` finds the
slot leased after checking that inherited lock. From then on the slot is the child's: this
process refuses to run probes on it (handing one slot to two live children at once is the
caller's mistake).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.privileges import MAX_SLOTS
from grader.sandbox.slot_locks import Held, LockedSlots, check_not_an_account, owned_by_accounts

LEASE_ENV = "TINYTORCH_SANDBOX_LEASE"  # "slot:fd,slot:fd" (fd "-" when nothing is locked)
ROOT_LOCK_DIR = Path("/run/tinytorch-sandbox-slots")
REPORT_EVERY_SECONDS = 10.0
FIRST_PAUSE_SECONDS = 0.02
LONGEST_PAUSE_SECONDS = 0.25

log = logging.getLogger(__name__)


class SlotsBusy(TimeoutError):
    """`lease(..., timeout=...)` gave up; the message says who holds the slots."""


class NotLeased(ValueError):
    """A slot this process does not hold (or no longer holds) was asked for."""


@dataclass(frozen=True)
class SlotWait:
    """One report from a lease that has to wait: `done` is False while it waits, True once."""

    wanted: int
    free: int
    holders: tuple[str, ...]
    waited_seconds: float
    done: bool = False

    def __str__(self) -> str:
        if self.done:
            return f"sandbox slots: got {self.wanted} slot(s) after waiting {self.waited_seconds:.1f} s"
        held = "; ".join(self.holders) or "holders unknown"
        return (
            f"sandbox slots: waited {self.waited_seconds:.1f} s so far for {self.wanted} slot(s), "
            f"{self.free} free; held by {held}"
        )


WaitReport = Callable[[SlotWait], None]


def log_wait(wait: SlotWait) -> None:
    """The default `wait_report`: a warning on the `grader.sandbox.slots` logger (stderr)."""
    log.warning("%s", wait)


@dataclass(frozen=True)
class SlotHandoff:
    """What a child process needs to use slots of a lease: extra env and fds to pass."""

    env: dict[str, str]
    pass_fds: tuple[int, ...]


_STATES: dict[Path | None, LockedSlots] = {}
_STATES_LOCK = threading.Lock()


def default_lock_dir() -> Path | None:
    """Where slot locks live for this process: /run/... as root, none (no locking) otherwise."""
    if os.geteuid() != 0:
        return None
    if ROOT_LOCK_DIR.parent.is_dir() and os.access(ROOT_LOCK_DIR.parent, os.W_OK):
        return ROOT_LOCK_DIR
    return Path(tempfile.gettempdir()) / ROOT_LOCK_DIR.name


def _state_for(lock_dir: Path | None) -> LockedSlots:
    """This process's record for `lock_dir`; the default one adopts slots a parent handed down."""
    key = _key(lock_dir)
    with _STATES_LOCK:
        state = _STATES.get(key)
        if state is None:
            state = LockedSlots(key)
            if key == _key(default_lock_dir()) and os.environ.get(LEASE_ENV):
                _adopt(state, os.environ[LEASE_ENV])
            _STATES[key] = state
        return state


def _key(lock_dir: Path | None) -> Path | None:
    return None if lock_dir is None else Path(os.path.abspath(lock_dir))


def _adopt(state: LockedSlots, value: str) -> None:
    """Register in `state` the slots a parent handed down in $TINYTORCH_SANDBOX_LEASE."""
    for item in filter(None, value.split(",")):
        slot_text, _, fd_text = item.partition(":")
        try:
            slot = int(slot_text)
            fd = None if fd_text == "-" else int(fd_text)
        except ValueError:
            raise ValueError(f"${LEASE_ENV}={value!r}: {item!r} is not 'slot:fd'") from None
        if state.dir_fd is None:
            state.held[slot] = Held(None)
            continue
        if fd is None or not state.is_inherited_lock(slot, fd):
            raise ValueError(
                f"${LEASE_ENV}={value!r}: fd {fd_text} is not a held lock on sandbox slot {slot} "
                f"in {state.lock_dir} (pass it with pass_fds=handoff.pass_fds)"
            )
        os.set_inheritable(fd, False)
        state.held[slot] = Held(fd)


class SlotLease:
    """Distinct slots held until `release()` or the end of the `with` block.

    slots: the leased slot numbers, ascending; waited_seconds: how long leasing waited.
    """

    def __init__(self, state: LockedSlots, held: dict[int, Held], waited_seconds: float) -> None:
        self._state = state
        self._held = held
        self.slots: list[int] = sorted(held)
        self.waited_seconds = waited_seconds

    def __enter__(self) -> SlotLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"SlotLease(slots={self.slots}, waited_seconds={self.waited_seconds:.2f})"

    def release(self) -> None:
        """Give the slots back (idempotent). A child they were handed to keeps its lock."""
        self._state.release(self._held)

    def handoff(self, *slots: int) -> SlotHandoff:
        """Env and fds that let a child process use `slots` (default: all) of this lease."""
        chosen = list(slots) or self.slots
        strangers = [slot for slot in chosen if slot not in self._held]
        if strangers:
            raise ValueError(f"slots {strangers} are not held by this lease (it holds {self.slots})")
        return _handoff(self._state, chosen)


def _handoff(state: LockedSlots, slots: list[int]) -> SlotHandoff:
    """Mark `slots` as the child's and say how to pass them (see the module docstring)."""
    entries: dict[int, Held] = {}
    with state.mutex:
        for slot in slots:
            entry = state.held.get(slot)
            if entry is None:
                raise NotLeased(f"sandbox slot {slot} is not leased by this process (pid {os.getpid()}); it cannot be handed on")
            entries[slot] = entry
        for entry in entries.values():
            entry.handed_off = True
    value = ",".join(f"{slot}:{'-' if entry.fd is None else entry.fd}" for slot, entry in entries.items())
    return SlotHandoff({LEASE_ENV: value}, tuple(entry.fd for entry in entries.values() if entry.fd is not None))


class SlotUse:
    """One probe's claim on a leased slot (see SlotPool.using); `waited_seconds` is how long
    probes of other threads on the slot made it wait."""

    def __init__(self, slot: int, in_use: threading.Lock, waited_seconds: float) -> None:
        self.slot = slot
        self.waited_seconds = waited_seconds
        self._in_use: threading.Lock | None = in_use

    def __enter__(self) -> SlotUse:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._in_use is not None:
            self._in_use.release()
            self._in_use = None


class SlotPool:
    """Slots `slots` (default: all MAX_SLOTS), leased with locks in `lock_dir` (default: see
    `default_lock_dir`). Pools on the same directory share one view of what is held."""

    def __init__(self, slots: Iterable[int] | None = None, *, lock_dir: Path | None = None) -> None:
        numbers = sorted(set(range(MAX_SLOTS) if slots is None else slots), reverse=True)
        bad = [s for s in numbers if type(s) is not int or not 0 <= s < MAX_SLOTS]
        if bad or not numbers:
            raise ValueError(f"SlotPool: slots must be ints in [0, {MAX_SLOTS}), got {bad or 'none'}")
        self.slots = numbers
        self.lock_dir = default_lock_dir() if lock_dir is None else lock_dir
        self._state = _state_for(self.lock_dir)

    def lease(
        self,
        n: int = 1,
        *,
        wait_report: WaitReport | None = log_wait,
        timeout: float | None = None,
        report_every: float = REPORT_EVERY_SECONDS,
    ) -> SlotLease:
        """Lease n distinct free slots, waiting (and reporting) while fewer are free.

        Raises ValueError if the pool has fewer than n usable slots, SlotsBusy after `timeout`.
        """
        accounts = owned_by_accounts()
        candidates = [s for s in self.slots if s not in accounts]
        if type(n) is not int or not 1 <= n <= len(candidates):
            raise ValueError(f"SlotPool.lease: n must be in [1, {len(candidates)}] (usable slots), got {n!r}")
        return self._acquire(candidates, n, wait_report, timeout, report_every)

    def lease_exactly(
        self,
        slots: Iterable[int],
        *,
        wait_report: WaitReport | None = log_wait,
        timeout: float | None = None,
        report_every: float = REPORT_EVERY_SECONDS,
    ) -> SlotLease:
        """Lease these very slots, waiting (and reporting) while any is held elsewhere."""
        wanted = list(slots)
        outside = [s for s in wanted if s not in self.slots]
        if not wanted or outside or len(set(wanted)) != len(wanted):
            raise ValueError(f"SlotPool.lease_exactly: want distinct slots of this pool, got {wanted}")
        for slot in wanted:
            check_not_an_account(slot)
        return self._acquire(wanted, len(wanted), wait_report, timeout, report_every)

    def handoff(self, *slots: int) -> SlotHandoff:
        """Env and fds that let a child process use `slots`, held by any lease of this process."""
        return _handoff(self._state, list(slots))

    def holds(self, slot: int) -> bool:
        """Whether a lease of this process (or a parent's handoff) holds `slot`."""
        with self._state.mutex:
            return slot in self._state.held

    def using(self, slot: int) -> SlotUse:
        """Claim leased `slot` for one probe, waiting while a probe of another thread runs on
        it; use the result as a context manager. Raises NotLeased if this process does not
        hold the slot (or its lease ended while we waited), ValueError if it was handed off."""
        started = time.monotonic()
        while True:
            with self._state.mutex:
                entry = self._state.held.get(slot)
            if entry is None:
                raise NotLeased(
                    f"sandbox slot {slot} is not leased by this process (pid {os.getpid()}); "
                    "lease it first with SlotPool().lease(...), or pass uid_slot=None"
                )
            if entry.handed_off:
                raise ValueError(f"sandbox slot {slot} was handed to a child process; this process may not use it")
            entry.in_use.acquire()
            with self._state.mutex:
                if self._state.held.get(slot) is entry:
                    return SlotUse(slot, entry.in_use, time.monotonic() - started)
            entry.in_use.release()  # its lease ended while we waited: look again

    def _acquire(
        self, candidates: list[int], n: int, wait_report: WaitReport | None, timeout: float | None, report_every: float
    ) -> SlotLease:
        started = time.monotonic()
        next_report = started
        pause = FIRST_PAUSE_SECONDS
        waited = False
        while True:
            taken, busy = self._state.try_take(candidates, n)
            elapsed = time.monotonic() - started
            if taken is not None:
                if waited and wait_report is not None:
                    wait_report(SlotWait(n, n, (), elapsed, done=True))
                return SlotLease(self._state, taken, elapsed if waited else 0.0)
            waited = True
            if timeout is not None and elapsed >= timeout:
                raise SlotsBusy(f"gave up after {timeout:g} s: {self._wait(n, candidates, busy, elapsed)}")
            if wait_report is not None and time.monotonic() >= next_report:
                wait_report(self._wait(n, candidates, busy, elapsed))
                next_report = time.monotonic() + report_every
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_SECONDS)

    def _wait(self, n: int, candidates: list[int], busy: list[int], elapsed: float) -> SlotWait:
        return SlotWait(n, len(candidates) - len(busy), self._state.holders(busy), elapsed)


_DEFAULT_POOL: SlotPool | None = None


def default_pool() -> SlotPool:
    """The pool `run_probe` leases from and checks leases against (created on first use)."""
    global _DEFAULT_POOL
    with _STATES_LOCK:
        pool = _DEFAULT_POOL
    if pool is None:
        pool = SlotPool()
        with _STATES_LOCK:
            _DEFAULT_POOL = _DEFAULT_POOL or pool
            pool = _DEFAULT_POOL
    return pool


