"""The Gradescope autograder's entry point: `run_autograder` runs this for every submission.

    python -m grader.release.gradescope_run [--root /autograder]     # root: $AUTOGRADER_ROOT

It supervises; the grading itself runs in a child (gradescope_grade.py), in its own session,
so that nothing the grading does (running out of memory, a stuck session, Gradescope's SIGTERM)
can leave Gradescope without a valid results.json:

1. before anything else, write a valid results.json: score 0, every part "not graded yet";
2. start the child, which rewrites results.json (atomically) after each part it grades;
3. wait until it exits, the timeout minus a margin passes, or SIGTERM/SIGINT arrives;
4. if it did not finish, kill it and everything it started (this process is a child
   subreaper, so orphans come back here), and rewrite the child's last results.json with the
   reason on every part it never graded: the timeout, the signal, or a kill by the kernel
   (out of memory: the container's limit is named);
5. print the sandbox's protections, the score, the time and the container's memory peak for
   the instructor (`stdout_visibility` is hidden: students never see this log).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from grader.config import load_config
from grader.core.targets import Targets
from grader.engine.grade import GradeReport, max_points
from grader.export.gradescope import MILESTONE_PART, MODULES_PART, gradescope_results, mark_stopped, schema_problems
from grader.sandbox import cleanup

from .gradescope_grade import log, write_json
from .gradescope_limits import SUPERVISOR_MARGIN_SECONDS, Settings

ROOT_ENV = "AUTOGRADER_ROOT"
KILL_ROUNDS_SECONDS = 10.0


def paths(root: Path) -> dict[str, Path]:
    return {"submission": root / "submission", "results": root / "results" / "results.json",
            "settings": root / "source" / "gradescope.json"}


def first_results(results: Path) -> None:
    """A valid results.json before any grading: every part pending, score 0."""
    cfg = load_config()
    targets = Targets(tuple(cfg.modules), True)
    report = GradeReport(Path("."), targets, True, [], 0.0, max_points(cfg, targets))
    write_json(gradescope_results(report, cfg, pending=(MODULES_PART, MILESTONE_PART)), results)


class Supervisor:
    def __init__(self, root: Path, settings: Settings) -> None:
        self.root, self.settings, self.files = root, settings, paths(root)
        self.started = time.monotonic()
        self.deadline = self.started + settings.timeout_seconds - SUPERVISOR_MARGIN_SECONDS
        self.stop_signal: int | None = None
        self.wake = threading.Event()

    def on_signal(self, signum: int, _frame: object) -> None:
        self.stop_signal = signum
        self.wake.set()

    def run(self) -> int:
        results = self.files["results"]
        results.parent.mkdir(parents=True, exist_ok=True)
        first_results(results)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_signal)
        cleanup.become_subreaper()
        with tempfile.TemporaryDirectory(prefix="tinytorch-gradescope-") as work:
            child = subprocess.Popen(
                [sys.executable, "-m", "grader.release.gradescope_grade", "--submission", str(self.files["submission"]),
                 "--results", str(results), "--settings", str(self.files["settings"]), "--work", work],
                stdin=subprocess.DEVNULL, start_new_session=True)
            threading.Thread(target=self._wait_for, args=(child,), daemon=True).start()
            while not self.wake.wait(timeout=max(0.0, min(1.0, self.deadline - time.monotonic()))):
                if time.monotonic() >= self.deadline:
                    break
            code = child.poll()
            reason = self._reason(code)
            if reason:
                kill_everything_below_me(child.pid)
                self._finish_stopped(reason)
        self._log_summary()
        return 0

    def _wait_for(self, child: subprocess.Popen[bytes]) -> None:
        child.wait()
        self.wake.set()

    def _reason(self, code: int | None) -> str:
        """Why the grading did not finish ("" when it did)."""
        seconds = time.monotonic() - self.started
        if code == 0:
            return ""
        if self.stop_signal is not None:
            return f"the autograder was stopped ({signal.Signals(self.stop_signal).name}) after {seconds:.0f} s"
        if code is None:
            return (f"the autograder's time limit ({self.settings.timeout_seconds} s) was about to run out after "
                    f"{seconds:.0f} s")
        if code < 0 and -code == signal.SIGKILL:
            limit = container_memory_limit()
            return ("the grading process was killed by the system, most likely for running out of memory"
                    + (f" (the container has {limit / 2**20:.0f} MB)" if limit else ""))
        return f"the grading process failed (exit status {code})"

    def _finish_stopped(self, reason: str) -> None:
        results = self.files["results"]
        try:
            data = json.loads(results.read_text(encoding="utf-8"))
            if schema_problems(data):
                raise ValueError("invalid")
        except (OSError, ValueError):
            first_results(results)
            data = json.loads(results.read_text(encoding="utf-8"))
        data["extra_data"]["seconds_until_stopped"] = round(time.monotonic() - self.started, 1)
        write_json(mark_stopped(data, reason), results)
        log(f"stopped: {reason}")

    def _log_summary(self) -> None:
        try:
            data = json.loads(self.files["results"].read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log(f"results.json unreadable: {exc}")
            return
        extra = data.get("extra_data", {})
        sandbox = extra.get("sandbox", {})
        log(f"score {data.get('score')} in {time.monotonic() - self.started:.1f} s; "
            f"points {json.dumps(extra.get('points', {}))}")
        log(f"sandbox declared {json.dumps(sandbox.get('declared', {}))}")
        log(f"sandbox observed {json.dumps(sandbox.get('observed', {}))}")
        for weakness in sandbox.get("weaknesses", []):
            log(f"WEAKER SANDBOX: {weakness}")
        peak, limit = container_memory_peak(), container_memory_limit()
        if peak:
            log(f"memory peak of this cgroup (the container on Gradescope) {peak / 2**20:.0f} MB"
                + (f" of {limit / 2**20:.0f} MB" if limit else ""))


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, from /proc (children of each of its threads, recursively)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as handle:
                    kids = [int(p) for p in handle.read().split()]
            except OSError:
                continue
            found += kids
            stack += kids
    return found


def kill_everything_below_me(child: int) -> None:
    """SIGKILL the grading child and every process below it or re-parented to this subreaper."""
    deadline = time.monotonic() + KILL_ROUNDS_SECONDS
    while time.monotonic() < deadline:
        victims = set(descendants(os.getpid())) | {child}
        alive = [p for p in victims if os.path.exists(f"/proc/{p}")]
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in alive:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        while True:                         # reap what died (our children; orphans re-parented here)
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not descendants(os.getpid()):
            return
        time.sleep(0.05)


def _own_cgroup_file(v2_name: str, v1_controller: str, v1_name: str) -> Path | None:
    """A file of this process's own cgroup (v2, else v1), as /proc/self/cgroup names it; inside a
    container with its own cgroup namespace (Gradescope) that is the container's."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "" and (Path("/sys/fs/cgroup") / path.lstrip("/") / v2_name).exists():
            return Path("/sys/fs/cgroup") / path.lstrip("/") / v2_name
        if v1_controller in controllers.split(","):
            candidate = Path("/sys/fs/cgroup") / v1_controller / path.lstrip("/") / v1_name
            if candidate.exists():
                return candidate
    return None


def _read_bytes_value(path: Path | None) -> int | None:
    try:
        text = path.read_text().strip() if path is not None else ""
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) < 1 << 60 else None


def container_memory_limit() -> int | None:
    """This cgroup's memory limit in bytes (Gradescope's container), None when unlimited or unknown."""
    return _read_bytes_value(_own_cgroup_file("memory.max", "memory", "memory.limit_in_bytes"))


def container_memory_peak() -> int | None:
    """The most memory this cgroup has used so far, in bytes (None when the kernel does not say)."""
    return _read_bytes_value(_own_cgroup_file("memory.peak", "memory", "memory.max_usage_in_bytes"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.release.gradescope_run", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_ENV, "/autograder")),
                        help=f"the autograder folder (default: ${ROOT_ENV}, else /autograder)")
    args = parser.parse_args(argv)
    settings = Settings.load(paths(args.root)["settings"])
    return Supervisor(args.root, settings).run()


if __name__ == "__main__":
    sys.exit(main())
