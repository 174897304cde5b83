"""One grading in its own process, started by the batch: `python -m grader.batch.job SPEC.json`.

SPEC.json (written by run.py) names the staged submission (`impl`, holding tinytorch/), the
output folder, the targets, the config, the content hash and what collect.py found. The job
leases its own SLOTS_PER_GRADING sandbox slots, calls `grader.engine.grade.grade` once, and
writes DIR/<key>/results.json and then DIR/<key>/record.json (the done mark). It prints
nothing a batch needs; its output goes to a log the batch reads only when it dies. Its probes
fork from zygotes of this job's own processes (the config's `sandbox: fork_server`), which end
with them: nothing of one submission's grading is reused for the next.

A job dies with its batch: it asks the kernel for SIGTERM when its parent exits (a SIGKILLed
batch included), ignores SIGINT (Ctrl-C is the batch's to handle), and on SIGTERM kills
every process it started (proctree.py) and removes its staging folder before exiting, so no
grading outlives its batch. One BLAS thread (the batch sets it in the job's environment).
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:          # the batch died before the prctl took effect
        os._exit(128 + signal.SIGTERM)


_STAGING: list[Path] = []     # the staged submission's folder, removed when the job is stopped


def _on_term(signum: int, _frame: FrameType | None) -> None:
    import shutil
    from grader.batch.proctree import kill_tree
    kill_tree(os.getpid(), include_root=False)
    for folder in _STAGING:       # the batch may be gone (SIGKILL) and cannot remove it
        shutil.rmtree(folder, ignore_errors=True)
    os._exit(128 + signum)


def run_job(spec: dict[str, Any]) -> None:
    """Grade the staged submission and write its results and record (see the module docstring)."""
    from grader.batch.outputs import problem_record, problem_report, record_from_report, write_submission
    from grader.batch.resume import ERROR
    from grader.config import load_config
    from grader.core.outcomes import Outcome
    from grader.core.targets import resolve_targets
    from grader.engine.grade import SLOTS_PER_GRADING, grade
    from grader.sandbox import zygote
    from grader.sandbox.slots import default_pool

    cfg = load_config(Path(spec["config"]))
    zygote.configure(cfg.sandbox.fork_server)   # this grading's probes, its test sessions' too
    targets = resolve_targets(spec["targets"], cfg)
    out = Path(spec["out"])
    try:
        with default_pool().lease(SLOTS_PER_GRADING, wait_report=lambda w: print(w, flush=True)) as lease:
            report = grade(Path(spec["impl"]), targets, cfg=cfg, hidden=True, public=spec["public"],
                           hidden_dir=Path(spec["hidden_dir"]), lease=lease,
                           hidden_sessions=int(spec.get("hidden_sessions") or 2))
        record = record_from_report(report, spec, cfg)
    except Exception as exc:  # a grader failure: the row says so, the batch goes on
        traceback.print_exc()
        where = traceback.extract_tb(exc.__traceback__)[-1]
        reason = f"the grader failed: {type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"
        report = problem_report(cfg, targets, "the grader failed on this submission", reason, Outcome.ERROR)
        record = problem_record(spec, report, cfg, ERROR, reason)
    write_submission(out, spec["key"], report, record)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec_path = Path(args[0]).resolve()
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    _STAGING.append(spec_path.parent)
    _die_with_parent(int(spec["parent"]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    from grader.sandbox.cleanup import become_subreaper
    become_subreaper()
    run_job(spec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
