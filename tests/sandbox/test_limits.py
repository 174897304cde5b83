"""Limits: wall-clock deadline, CPU time, memory and output size stop runaway student code."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sandbox_kit import LINUX_ONLY, make_impl, probe

from grader.sandbox import Limits

pytestmark = LINUX_ONLY


@pytest.mark.timeout(60)
def test_infinite_loop_inside_catch_all_times_out(tmp_path: Path) -> None:
    """A loop that swallows every BaseException still ends at the deadline: timeout."""
    impl = make_impl(
        tmp_path,
        """
        def add(a, b):
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
        """,
    )
    started = time.monotonic()
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n", limits=Limits(wall_seconds=2.0))
    elapsed = time.monotonic() - started
    assert result.status == "timeout" and "2 s time limit" in result.error_message, result
    assert elapsed < 2.0 + 2.0, f"run_probe took {elapsed:.1f} s for a 2 s deadline"


@pytest.mark.timeout(60)
def test_sleep_past_deadline_with_signals_and_timers_disarmed_times_out(tmp_path: Path) -> None:
    """Ignoring SIGTERM/SIGALRM/SIGINT and cancelling timers does not stop the deadline."""
    impl = make_impl(
        tmp_path,
        """
        import signal, time
        def add(a, b):
            for sig in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
                signal.signal(sig, signal.SIG_IGN)
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.alarm(0)
            time.sleep(60)
        """,
    )
    started = time.monotonic()
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n", limits=Limits(wall_seconds=2.0))
    assert result.status == "timeout", result
    assert time.monotonic() - started < 4.0


@pytest.mark.timeout(60)
def test_cpu_limit_is_reported_as_crash_naming_the_limit(tmp_path: Path) -> None:
    """A busy loop that ignores SIGXCPU is killed by RLIMIT_CPU; the message names the limit."""
    impl = make_impl(
        tmp_path,
        """
        import signal
        def add(a, b):
            signal.signal(signal.SIGXCPU, signal.SIG_IGN)
            while True:
                pass
        """,
    )
    result = probe(impl, "def probe(tt):\n    return {'v': tt.add(1, 2)}\n", limits=Limits(wall_seconds=15.0, cpu_seconds=1))
    assert result.status == "crashed" and "CPU time limit of 1 s" in result.error_message, result


@pytest.mark.timeout(60)
def test_memory_bombs_raise_memory_error_and_leave_the_grader_fine(tmp_path: Path) -> None:
    """A huge NumPy allocation raises MemoryError; a growing list is stopped by RLIMIT_AS."""
    impl = make_impl(
        tmp_path,
        """
        import numpy as np
        def huge():
            return np.ones(10**11)
        def grow():
            hog = []
            while True:
                hog.append(bytearray(50 * 1024**2))
        """,
    )
    limits = Limits(wall_seconds=10.0, memory_bytes=512 * 1024**2)
    result = probe(impl, "def probe(tt):\n    return {'v': tt.huge()}\n", limits=limits)
    assert (result.status, result.error_type) == ("raised", "MemoryError"), result
    result = probe(impl, "def probe(tt):\n    return {'v': tt.grow()}\n", limits=limits)
    assert result.status in ("raised", "crashed"), result
    assert result.status == "crashed" or result.error_type == "MemoryError", result
    assert np.ones(1000).sum() == 1000.0  # the grader itself is untouched


@pytest.mark.timeout(60)
def test_huge_output_is_capped_and_only_the_tail_returned(tmp_path: Path) -> None:
    """100 MB printed hits RLIMIT_FSIZE; the grader gets at most ~2 KB of tail."""
    impl = make_impl(
        tmp_path,
        """
        import sys
        def spam():
            line = "x" * 999 + "\\n"
            for _ in range(100_000):
                sys.stdout.write(line)
        """,
    )
    limits = Limits(wall_seconds=20.0, file_bytes=8 * 1024**2)
    result = probe(impl, "def probe(tt):\n    return {'v': tt.spam()}\n", limits=limits)
    assert result.status in ("crashed", "raised"), result
    if result.status == "crashed":
        assert "output/file size limit of 8388608 bytes" in result.error_message
    assert 0 < len(result.output_tail) <= 2048 and "xxx" in result.output_tail
