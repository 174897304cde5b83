"""Slot leases: two leases never share a slot (threads or processes), a lease that has to
wait says so and names the holder, and the lock files cannot be redirected.

Each test uses a pool of its own (a few slots, locks in tmp_path), so it neither disturbs
nor waits for graders running on this machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sandbox_kit import LINUX_ONLY

from grader.sandbox import SlotPool, SlotWait
from grader.sandbox.slots import NotLeased, SlotsBusy

pytestmark = LINUX_ONLY

HOLDER = """
import sys
from pathlib import Path
from grader.sandbox import SlotPool
lease = SlotPool(range(int(sys.argv[2])), lock_dir=Path(sys.argv[1])).lease(int(sys.argv[3]))
print(" ".join(map(str, lease.slots)), flush=True)
sys.stdin.readline()
"""


def start_holder(lock_dir: Path, pool_size: int, n: int) -> tuple[subprocess.Popen[str], list[int]]:
    """A process that leases n slots of pool range(pool_size) and holds them until its stdin closes."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_dir), str(pool_size), str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line, f"holder process failed (exit code {child.wait()})"
    return child, [int(s) for s in line.split()]


def stop(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    child.wait(timeout=30)


def test_two_threads_leasing_at_once_never_share_a_slot(tmp_path: Path) -> None:
    """Threads leasing 3 of 6 slots at the same moment always get disjoint slots."""
    pool = SlotPool(range(6), lock_dir=tmp_path / "locks")
    for round_number in range(30):
        barrier = threading.Barrier(2)
        got: list[list[int]] = []
        leases = []

        def take() -> None:
            barrier.wait()
            lease = pool.lease(3, timeout=10)
            leases.append(lease)
            got.append(lease.slots)

        threads = [threading.Thread(target=take) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(got) == 2 and not set(got[0]) & set(got[1]), f"round {round_number}: leases {got} share a slot"
        with pytest.raises(SlotsBusy):
            pool.lease(1, timeout=0.05, wait_report=None)
        for lease in leases:
            lease.release()


def test_two_processes_never_share_a_slot_and_the_wait_names_the_holder(tmp_path: Path) -> None:
    """Another process holding 2 of 4 slots: we get the other 2, and a fifth waits naming its pid."""
    lock_dir = tmp_path / "locks"
    child, theirs = start_holder(lock_dir, 4, 2)
    try:
        with SlotPool(range(4), lock_dir=lock_dir).lease(2, timeout=5) as lease:
            assert len(theirs) == 2 and not set(theirs) & set(lease.slots), (theirs, lease.slots)
            with pytest.raises(SlotsBusy) as busy:
                SlotPool(range(4), lock_dir=lock_dir).lease(1, timeout=0.2, wait_report=None)
        message = str(busy.value)
        assert f"pid {child.pid}" in message and "this process" in message, message
    finally:
        stop(child)


def test_a_dead_holder_leaves_its_slots_free(tmp_path: Path) -> None:
    """A grader killed with SIGKILL leaks nothing: its slots can be leased at once."""
    lock_dir = tmp_path / "locks"
    child, theirs = start_holder(lock_dir, 2, 2)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    with SlotPool(range(2), lock_dir=lock_dir).lease(2, timeout=5, wait_report=None) as lease:
        assert lease.slots == sorted(theirs) and lease.waited_seconds == 0.0, lease


def test_a_lease_that_must_wait_reports_who_holds_and_how_long(tmp_path: Path) -> None:
    """While the only slot is held the waiting lease reports at once; once served, it reports the total."""
    pool = SlotPool([7], lock_dir=tmp_path / "locks")
    holder = pool.lease(1)
    reports: list[SlotWait] = []
    timer = threading.Timer(0.6, holder.release)
    timer.start()
    try:
        with pool.lease(1, wait_report=reports.append, report_every=0.2) as lease:
            assert lease.slots == [7]
    finally:
        timer.cancel()
    waiting, done = [r for r in reports if not r.done], [r for r in reports if r.done]
    assert waiting and len(done) == 1, reports
    assert waiting[0].wanted == 1 and waiting[0].free == 0 and "this process" in waiting[0].holders[0], waiting[0]
    assert "held by this process" in str(waiting[0]), str(waiting[0])
    assert done[0].waited_seconds >= 0.5 and lease.waited_seconds == done[0].waited_seconds, (done, lease)


def test_a_lease_that_need_not_wait_reports_nothing(tmp_path: Path) -> None:
    """No free-slot shortage, no report: waiting is the only thing worth a message."""
    reports: list[SlotWait] = []
    with SlotPool(range(3), lock_dir=tmp_path / "locks").lease(3, wait_report=reports.append) as lease:
        assert lease.slots == [0, 1, 2] and lease.waited_seconds == 0.0
    assert reports == []


def test_lease_exactly_waits_for_that_slot_even_when_others_are_free(tmp_path: Path) -> None:
    """lease_exactly([k]) takes k itself, never a substitute."""
    pool = SlotPool(range(3), lock_dir=tmp_path / "locks")
    with pool.lease_exactly([1]):
        with pytest.raises(SlotsBusy, match="1 slot"):
            pool.lease_exactly([1], timeout=0.1, wait_report=None)
        with pool.lease_exactly([0, 2], timeout=1) as others:
            assert others.slots == [0, 2]


def test_impossible_requests_raise_at_once(tmp_path: Path) -> None:
    """Asking for more slots than the pool has, or for none, is the caller's mistake."""
    pool = SlotPool(range(2), lock_dir=tmp_path / "locks")
    for n in (0, 3):
        with pytest.raises(ValueError, match=r"n must be in \[1, 2\]"):
            pool.lease(n)
    with pytest.raises(ValueError, match="distinct slots of this pool"):
        pool.lease_exactly([5])
    with pytest.raises(ValueError, match="slots must be ints"):
        SlotPool([-1, 1000])


def test_lock_dir_writable_by_others_or_symlinked_is_refused(tmp_path: Path) -> None:
    """Sandbox uids must not be able to plant or swap lock files: such a directory is refused."""
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    with pytest.raises(OSError, match="writable by no one else"):
        SlotPool(range(2), lock_dir=open_dir)
    real = tmp_path / "real"
    real.mkdir(mode=0o755)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(OSError):
        SlotPool(range(2), lock_dir=tmp_path / "link")


def test_a_symlink_planted_as_a_lock_file_is_not_followed(tmp_path: Path) -> None:
    """A lock file replaced by a symlink (to a file the grader could clobber) is refused, target untouched."""
    lock_dir = tmp_path / "locks"
    pool = SlotPool(range(2), lock_dir=lock_dir)
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    planted = lock_dir / "slot-001.lock"
    planted.symlink_to(target)
    for attempt in (lambda: pool.lease_exactly([1]), lambda: pool.lease(1)):
        with pytest.raises(OSError, match=f"cannot open lock file {planted}"):
            attempt()
    assert target.read_text() == "keep me"


def test_released_slots_are_free_again_and_release_is_idempotent(tmp_path: Path) -> None:
    """After release (twice, harmlessly) the same slots can be leased by someone else."""
    lock_dir = tmp_path / "locks"
    pool = SlotPool(range(2), lock_dir=lock_dir)
    lease = pool.lease(2)
    assert pool.holds(0) and pool.holds(1)
    lease.release()
    lease.release()
    assert not pool.holds(0) and not pool.holds(1)
    child, theirs = start_holder(lock_dir, 2, 2)
    try:
        assert sorted(theirs) == [0, 1]
    finally:
        stop(child)


def test_pool_without_lock_dir_when_not_root_keeps_leases_distinct() -> None:
    """Without root nothing is locked on disk, yet one process's leases never overlap."""
    if os.geteuid() == 0:
        pytest.skip("as root the default pool locks in /run; the locking tests above cover it")
    pool = SlotPool(range(3))
    with pool.lease(2) as first, pool.lease(1) as second:
        assert not set(first.slots) & set(second.slots)
        started = time.monotonic()
        with pytest.raises(SlotsBusy):
            pool.lease(1, timeout=0.05, wait_report=None)
        assert time.monotonic() - started < 5


def test_release_waits_for_a_probe_running_on_the_slot(tmp_path: Path) -> None:
    """Ending a lease while a probe of another thread still runs on its slot waits for that probe."""
    pool = SlotPool([2], lock_dir=tmp_path / "locks")
    lease = pool.lease(1)
    with pool.using(2):
        releaser = threading.Thread(target=lease.release)
        releaser.start()
        releaser.join(0.3)
        assert releaser.is_alive() and pool.holds(2), "the lease ended under a running probe"
    releaser.join(5)
    assert not releaser.is_alive() and not pool.holds(2)
    with pytest.raises(NotLeased, match="sandbox slot 2 is not leased by this process"):
        pool.using(2)
