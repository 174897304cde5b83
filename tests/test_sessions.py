"""Grading sessions that fail: rows that finished are kept, the failure is a visible row under
its own heading naming where student code was stuck, and the maximum score stays the config's."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grader.config import load_config
from grader.core.outcomes import Outcome, Source
from grader.core.rows import SectionKind
from grader.core.targets import resolve_targets
from grader.engine.grade import base_context, grade
from grader.engine.sessions import SessionSpec, run_session
from grader.export.results_json import results_json, write_results_json
from grader.paths import public_tests_dir, solutions_dir

CFG = load_config()

LOOPING_TESTS = '''
def test_first_finishes():
    """first test finishes"""
    import tinytorch
    assert tinytorch.Tensor([1.0]).data[0] == 1.0

def test_second_hangs():
    """second test hangs in student code"""
    import tinytorch
    tinytorch.DataLoader.__iter__(None)

def test_third_never_starts():
    """third test"""
'''

# A DataLoader whose __iter__ swallows every exception in a loop: pytest-timeout cannot stop it.
STUCK_ITER = '''
    def __iter__(self):
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
'''


def _looping_impl(tmp: Path) -> Path:
    impl = tmp / "impl"
    shutil.copytree(solutions_dir() / "tinytorch", impl / "tinytorch", ignore=shutil.ignore_patterns("__pycache__"))
    data = impl / "tinytorch" / "data.py"
    data.write_text(data.read_text() + "\n\nclass _Stuck:" + STUCK_ITER + "\nDataLoader.__iter__ = _Stuck.__iter__\n")
    return impl


@pytest.mark.parametrize("sandboxed", [False, True], ids=["subprocess", "sandbox"])
def test_a_session_past_its_deadline_keeps_finished_rows_and_names_the_stuck_line(tmp_path: Path,
                                                                                  sandboxed: bool) -> None:
    tests = tmp_path / "t"
    tests.mkdir()
    (tests / "test_05_loop.py").write_text(LOOPING_TESTS)
    shutil.copyfile(public_tests_dir() / "conftest.py", tests / "conftest.py")  # puts the impl on sys.path
    impl = _looping_impl(tmp_path)
    spec = SessionSpec("public tests", (tests / "test_05_loop.py",), Source.PUBLIC, per_test_seconds=2,
                       session_seconds=2, grace_seconds=3)
    rows = run_session(spec, base_context(impl, CFG), sandboxed=sandboxed)
    kept = [r for r in rows if r.section.kind is SectionKind.MODULE]
    assert [(r.title, r.outcome) for r in kept] == [("first test finishes", Outcome.PASSED)]
    session = [r for r in rows if r.section.kind is SectionKind.SESSION]
    assert len(session) == 1 and session[0].outcome is Outcome.TIMEOUT, [(r.title, r.reason) for r in rows]
    assert "tinytorch/data.py" in session[0].reason and "__iter__" in session[0].reason, session[0].reason
    if not sandboxed:
        assert "test_second_hangs" in session[0].reason


KILLED_MIDWAY = '''
import os, signal
import pytest

@pytest.mark.points(5)
def test_a():
    """finishes before the crash"""

@pytest.mark.points(7)
def test_b():
    """the session dies here"""
    os.kill(os.getpid(), signal.SIGKILL)
'''


def test_a_hidden_session_killed_midway_exports_a_visible_grading_error_and_the_full_maximum(tmp_path: Path) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "test_01_killed.py").write_text(KILLED_MIDWAY)
    report = grade(solutions_dir(), resolve_targets(["01"], CFG), cfg=CFG, hidden=True, public=False,
                   hidden_dir=hidden)
    assert [(r.title, r.outcome) for r in report.rows if r.module == "01"] == [("finishes before the crash", Outcome.PASSED)]
    assert report.max_score == CFG.modules["01"].points and report.score == 5
    data = results_json(report)
    errors = [t for t in data["tests"] if t["name"].startswith("Grading error")]
    assert len(errors) == 1 and errors[0]["visibility"] == "visible" and errors[0]["score"] == 0
    assert "ended early" in errors[0]["output"] and "test_b" in errors[0]["output"]
    assert f"/ {CFG.modules['01'].points:g} points" in data["output"]
    out = tmp_path / "results.json"
    write_results_json(report, out)
    json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_two_graded_checks_started_together_never_wait_for_each_others_slots(tmp_path: Path) -> None:
    """Two `grader check --hidden` processes at the same moment: each leases its own slots."""
    import subprocess
    import sys
    outs = [tmp_path / f"results{i}.json" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "grader.cli", "check", "milestone03", "--impl", "solutions",
                               "--hidden", "--no-public", "--json", str(out)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for out in outs]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stdout + stderr
        assert "waited" not in stderr, stderr
    for out in outs:
        data = json.loads(out.read_text())
        assert data["extra_data"]["grading"]["waited_for_sandbox_slots_seconds"] == 0
        times = [m["train_seconds"] for m in data["extra_data"]["milestone03"].values()]
        assert all(t < data["execution_time"] for t in times)
