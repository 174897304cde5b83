"""Run a pytest session on some test files in a subprocess and read back its `Row`s."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from grader.core.rows import ERROR, Row, read_rows

THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_pytest(files: Sequence[Path], *, impl: Path, source: str, module_of_files: str,
               per_test_timeout: float, total_timeout: float, uid_slot: int = 0,
               extra_env: Optional[dict[str, str]] = None) -> list[Row]:
    """Run pytest on `files` with TINYTORCH_IMPL=impl; return one Row per test.

    The session runs in its own process group, killed as a whole at `total_timeout`. If it
    ends without writing rows (crashed, killed, timed out), one ERROR row says so.
    """
    if not files:
        return []
    with tempfile.TemporaryDirectory(prefix="grader-rows-") as tmp:
        rows_path = Path(tmp) / "rows.json"
        cmd = [sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider",
               "-p", "grader.engine.pytest_plugin", "--grader-rows", str(rows_path), "--grader-source", source,
               "-o", "addopts=", "--timeout", str(int(per_test_timeout)),
               "--rootdir", str(files[0].parent), *map(str, files)]
        env = {**os.environ, **THREAD_ENV, "TINYTORCH_IMPL": str(impl), "TINYTORCH_SANDBOX_SLOT": str(uid_slot),
               "PYTHONDONTWRITEBYTECODE": "1", **(extra_env or {})}
        proc = subprocess.Popen(cmd, cwd=files[0].parent, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=total_timeout)
            why = f"exit code {proc.returncode}"
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            output, _ = proc.communicate()
            why = f"still running after {total_timeout:.0f} s"
        _kill_group(proc.pid)
        if rows_path.exists():
            try:
                return read_rows(rows_path)
            except (ValueError, TypeError, KeyError):
                why = "its results file was unreadable"
        tail = output.decode(errors="replace").strip().splitlines()[-3:]
        reason = f"the {source} test run ended without results ({why})" + (f": {' | '.join(tail)}" if tail else "")
        return [Row(module=module_of_files, title=f"{source} tests", outcome=ERROR, reason=reason[:600], source=source)]


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
