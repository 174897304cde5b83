"""The batch scheduler: grade many submissions, `jobs` at a time, resumably and interruptibly.

    code = run_batch([Path("exports/")], Plan(out=Path("out"), cfg=cfg, targets=targets, jobs=2, ...))

For each submission (in key order; only this shard's with --shard): read and collect its
module files (a refusal becomes a "rejected input" row at once), hash them (resume.py), skip
it when DIR/<key>/record.json already holds that hash with a final status (unless `force`),
else stage it in a temporary folder over the kit's plumbing and start one job process
(job.py) for it. A job leases its own sandbox slots and calls `grade` once. At most `jobs`
run at once, each with one BLAS thread.

Stopping: the first SIGINT (Ctrl-C) starts nothing new and lets running gradings finish; a
second one, or SIGTERM (what Slurm and Kubernetes send), stops them now: each job kills its
whole process tree, and one that does not exit within GRACE_SECONDS is killed from here. The
CSV and summary of what is done are written and the exit status is 130 (SIGINT) or 143
(SIGTERM). A job whose parent dies (SIGKILL included) gets SIGTERM from the kernel, so no
grading outlives its batch; record.json, written last and atomically, is the only "done"
mark, so rerunning after any crash grades exactly what had no record. Staging folders are
named after the batch's pid; a run first removes those of batches that are no longer alive.

The seam for starting jobs differently (another launcher) is `start_job`: it receives the spec
file and returns a Popen-like handle. Jobs start as fresh processes on purpose: what is
pre-started is per grading (each process's sandbox zygote, grader/sandbox/zygote.py), so no
process serves two submissions. `benchmarks/batch_throughput.py` measures the batch.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.batch.collect import collect, module_files, stage
from grader.batch.extract import LIMITS, Limits, Rejected
from grader.batch.feedback import feedback_markdown
from grader.batch.inputs import Discovery, Unit, discover
from grader.batch.outputs import (MANIFEST, atomic_write, problem_record, problem_report, write_json,
                                  write_submission)
from grader.batch.progress import PlainProgress, make_progress
from grader.batch.resume import ERROR, FORMAT, REJECTED, TIMEOUT, content_hash, is_done, kit_fingerprint, \
    read_record, settings_digest
from grader.batch.shard import Shard, merge, shard_marker
from grader.config import Config
from grader.core.outcomes import Outcome
from grader.core.targets import Targets
from grader.engine.grade import max_points

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.05
EXIT_OK, EXIT_ERRORS = 0, 1
LEASE_ENV = "TINYTORCH_SANDBOX_LEASE"
STAGING_PREFIX = "grader-batch-"        # + the batch's pid: staging folders of dead batches are swept


def sweep_staging(tmp: Path | None = None) -> int:
    """Remove staging folders left by batches that died (SIGKILL, power loss); returns how many."""
    tmp = Path(tmp or tempfile.gettempdir())
    removed = 0
    for folder in tmp.glob(f"{STAGING_PREFIX}*"):
        pid_text = folder.name[len(STAGING_PREFIX):].split("-", 1)[0]
        try:
            owner = folder.lstat()
        except OSError:
            continue
        if not pid_text.isdigit() or owner.st_uid != os.geteuid() or not folder.is_dir() or folder.is_symlink():
            continue
        if not Path(f"/proc/{pid_text}").exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def default_jobs() -> int:
    """The cores this process may run on (Slurm's and taskset's binding included)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_timeout(cfg: Config) -> float:
    """A wall-clock bound per submission no honest grading reaches: every session limit, summed."""
    return (cfg.public_session_seconds + cfg.hidden_session_seconds
            + sum(m.time_limit_seconds for m in cfg.milestone.values()) + 300.0)


@dataclass
class Plan:
    out: Path
    cfg: Config
    targets: Targets
    hidden_dir: Path
    words: list[str]                    # the targets as given ("01", "05"), for the job processes
    public: bool = False
    jobs: int = field(default_factory=default_jobs)
    force: bool = False
    timeout: float | None = None        # None: default_timeout(cfg)
    shard: Shard | None = None
    after_due_date: bool = False
    tty: bool | None = None
    limits: Limits = LIMITS


@dataclass
class Job:
    unit: Unit
    proc: subprocess.Popen[bytes]
    folder: Path                        # the staged submission, spec and log (removed afterwards)
    spec: dict[str, Any]
    started: float


@dataclass
class StopState:
    signum: int = 0                     # the first SIGINT/SIGTERM received
    kill: bool = False                  # stop running gradings now
    announced: int = 0


@contextmanager
def stop_signals(state: StopState) -> Iterator[None]:
    def handler(signum: int, _frame: object) -> None:
        if signum == signal.SIGTERM or state.signum:
            state.kill = True
        state.signum = state.signum or signum
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def job_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != LEASE_ENV}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def start_job(spec_path: Path, log: Path) -> subprocess.Popen[bytes]:
    """One job process (job.py) in its own session, so a terminal's Ctrl-C reaches only the batch."""
    with open(log, "wb") as handle:
        return subprocess.Popen([sys.executable, "-m", "grader.batch.job", str(spec_path)], stdin=subprocess.DEVNULL,
                                stdout=handle, stderr=subprocess.STDOUT, env=job_env(), cwd=spec_path.parent,
                                start_new_session=True)


def build_manifest(discovery: Discovery, plan: Plan, settings: str) -> dict[str, Any]:
    return {"format": FORMAT, "settings": settings, "kit": kit_fingerprint(plan.hidden_dir),
            "config": str(Path(plan.cfg.path).resolve()), "targets": [list(plan.targets.modules), plan.targets.milestone],
            "targets_label": plan.targets.label, "public": plan.public,
            "units": [u.to_json() for u in discovery.units], "notes": discovery.notes}


class Batch:
    def __init__(self, plan: Plan, settings: str, progress: PlainProgress, stop: StopState) -> None:
        self.plan = plan
        self.settings = settings
        self.progress = progress
        self.stop = stop
        self.wanted = module_files(plan.cfg)
        self.maximum = max_points(plan.cfg, plan.targets)
        self.timeout = plan.timeout if plan.timeout is not None else default_timeout(plan.cfg)
        self.statuses: dict[str, str] = {}
        self.stopped: list[str] = []

    # -------------------------------------------------------------- one submission
    def _spec(self, unit: Unit, content: str, collected: dict[str, Any] | None) -> dict[str, Any]:
        # absolute paths: a job runs in its staging folder, not in the batch's working directory
        return {"key": unit.key, "hash": content, "settings": self.settings, "collected": collected,
                "out": str(self.plan.out.resolve()), "config": str(Path(self.plan.cfg.path).resolve()),
                "targets": self.plan.words, "public": self.plan.public, "hidden_dir": str(self.plan.hidden_dir.resolve()),
                "parent": os.getpid(), "hidden_sessions": self._hidden_sessions()}

    def _hidden_sessions(self) -> int:
        """One hidden-test session per grading when the jobs alone fill the cores (a second session
        costs ~0.5 CPU-s of pytest start-up and gains nothing then); two when one job has them to itself."""
        return 1 if self.plan.jobs >= (os.cpu_count() or 1) else 2

    def _done(self, unit: Unit, record: dict[str, Any], *, skipped: bool = False) -> None:
        atomic_write(self.plan.out / unit.key / "feedback.md",
                     feedback_markdown(unit.to_json(), record, self.plan.cfg, after_due_date=self.plan.after_due_date))
        self.statuses[unit.key] = record["status"]
        if skipped:
            self.progress.skipped(unit.key)
        else:
            self.progress.finished(unit.key, record["status"], record["score"], record["max_score"],
                                   float(record.get("seconds") or 0.0), record.get("reason") or "")

    def _problem(self, unit: Unit, status: str, title: str, reason: str, outcome: Outcome, content: str = "",
                 seconds: float = 0.0, collected: dict[str, Any] | None = None) -> None:
        spec = self._spec(unit, content, collected)
        report = problem_report(self.plan.cfg, self.plan.targets, title, reason, outcome, seconds)
        record = problem_record(spec, report, self.plan.cfg, status, reason)
        write_submission(self.plan.out, unit.key, report, record)
        self._done(unit, record)

    def prepare(self, unit: Unit) -> Job | None:
        """Collect, hash and start the job for `unit`; None when it finished at once (rejected, skipped)."""
        try:
            found = collect(unit.members(), unit.source, self.wanted, self.plan.limits)
        except Rejected as exc:
            self._problem(unit, REJECTED, "submission rejected", str(exc), Outcome.ERROR)
            return None
        except Exception as exc:  # an input no check foresaw: still one row, never the batch
            self._problem(unit, REJECTED, "submission rejected",
                          f"{unit.source}: cannot be read ({type(exc).__name__}: {exc})", Outcome.ERROR)
            return None
        content = content_hash(found.files, self.settings)
        record = read_record(self.plan.out / unit.key)
        if not self.plan.force and is_done(record, content):
            assert record is not None
            self._done(unit, record, skipped=True)
            return None
        folder = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-{unit.key[:40]}-"))
        stage(found, folder / "impl", self.wanted)
        spec = self._spec(unit, content, found.to_json())
        spec["impl"] = str(folder / "impl")
        (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        return Job(unit, start_job(folder / "spec.json", folder / "job.log"), folder, spec, time.monotonic())

    def finish(self, job: Job, code: int) -> None:
        record = read_record(self.plan.out / job.unit.key)
        if record is None or record.get("hash") != job.spec["hash"]:
            tail = _last_line(job.folder / "job.log")
            self._problem(job.unit, ERROR, "the grading process died",
                          f"the grading process exited with code {code} without a result" + (f": {tail}" if tail else ""),
                          Outcome.ERROR, job.spec["hash"], time.monotonic() - job.started, job.spec["collected"])
        else:
            self._done(job.unit, record)
        shutil.rmtree(job.folder, ignore_errors=True)

    def kill(self, job: Job) -> None:
        """Stop a running job and everything it started (see the module docstring)."""
        from grader.batch.proctree import kill_tree
        if job.proc.poll() is None:
            job.proc.send_signal(signal.SIGTERM)
            try:
                job.proc.wait(GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                kill_tree(job.proc.pid)
                job.proc.wait()

    def timed_out(self, job: Job) -> None:
        self.kill(job)
        seconds = time.monotonic() - job.started
        self._problem(job.unit, TIMEOUT, "grading stopped at the batch's time limit",
                      f"grading ran past {self.timeout:g} s and was stopped", Outcome.TIMEOUT, job.spec["hash"],
                      seconds, job.spec["collected"])
        shutil.rmtree(job.folder, ignore_errors=True)

    # -------------------------------------------------------------- the loop
    def run(self, units: list[Unit]) -> None:
        pending = deque(units)
        running: list[Job] = []
        while pending or running:
            self._announce(len(running))
            if self.stop.kill:
                for job in running:
                    self.kill(job)
                    if job.proc.returncode == 0 and read_record(self.plan.out / job.unit.key) is not None:
                        self.finish(job, 0)
                    else:
                        self.stopped.append(job.unit.key)
                        shutil.rmtree(job.folder, ignore_errors=True)
                running = []
            while not self.stop.signum and pending and len(running) < self.plan.jobs:
                job = self.prepare(pending.popleft())
                if job is not None:
                    running.append(job)
            if self.stop.signum and not running:
                break
            for job in list(running):
                code = job.proc.poll()
                if code is not None:
                    running.remove(job)
                    self.finish(job, code)
                elif time.monotonic() - job.started > self.timeout:
                    running.remove(job)
                    self.timed_out(job)
            time.sleep(POLL_SECONDS)
        self.stopped += [u.key for u in pending] if self.stop.signum else []

    def _announce(self, running: int) -> None:
        level = 2 if self.stop.kill else 1 if self.stop.signum else 0
        if level > self.stop.announced:
            self.stop.announced = level
            if level == 1:
                self.progress.say(f"grader grade: stopping: nothing new starts; {running} running grading(s) will "
                                  "finish (Ctrl-C again stops them now)")
            else:
                self.progress.say(f"grader grade: stopping {running} running grading(s) now")


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


@dataclass
class BatchResult:
    code: int
    statuses: dict[str, str]
    csv_rows: int | None
    missing: list[str]
    stopped: list[str]


def run_batch(inputs: list[Path], plan: Plan) -> BatchResult:
    """Discover, grade this shard's submissions, and write the outputs (see the module docstring)."""
    from grader.batch.collect import module_files as wanted_of
    discovery = discover(inputs, wanted_of(plan.cfg), plan.limits)
    settings = settings_digest(plan.cfg, plan.targets, public=plan.public, hidden_dir=plan.hidden_dir)
    plan.out.mkdir(parents=True, exist_ok=True)
    sweep_staging()
    write_json(plan.out / MANIFEST, build_manifest(discovery, plan, settings))
    mine = [u for u in discovery.units if plan.shard is None or plan.shard.owns(u.key)]
    stop = StopState()
    with stop_signals(stop), make_progress(len(mine), plan.tty) as progress:
        batch = Batch(plan, settings, progress, stop)
        batch.run(mine)
    rows: int | None = None
    missing: list[str] = []
    if plan.shard is None:
        rows, missing = merge(plan.out, after_due_date=plan.after_due_date, config=Path(plan.cfg.path))
    else:
        write_json(shard_marker(plan.out, plan.shard), {
            "shard": str(plan.shard), "settings": settings, "units": [u.key for u in mine],
            "complete": not stop.signum and len(batch.statuses) == len(mine)})
    if stop.signum:
        code = 128 + stop.signum
    else:
        code = EXIT_ERRORS if ERROR in batch.statuses.values() else EXIT_OK
    return BatchResult(code, batch.statuses, rows, missing, batch.stopped)
