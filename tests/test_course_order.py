"""Course order: plain pytest and `grader check` classify every check the same way.

For each module X, a *prerequisite hybrid* is the reference with X's file replaced by its
stub. On every hybrid, each public test gets the same verdict from plain `python -m pytest`
(passed / failed / skipped as "waiting") and from `grade()`, and `grader check NN` passes
whenever neither NN nor one of its prerequisites (config.yaml's `requires`) is X, and fails
when NN is X itself.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader.cli import main
from grader.config import load_config
from grader.core.outcomes import Outcome
from grader.core.rows import all_passed
from grader.core.targets import resolve_targets
from grader.engine.grade import grade
from grader.paths import assignments_dir, public_tests_dir, solutions_dir

CFG = load_config()
COURSE = CFG.course


def _hybrid(tmp: Path, stub_module: str) -> Path:
    impl = tmp / f"hybrid_{stub_module}"
    shutil.copytree(solutions_dir() / "tinytorch", impl / "tinytorch", ignore=shutil.ignore_patterns("__pycache__"))
    name = CFG.modules[stub_module].name
    shutil.copyfile(assignments_dir() / "tinytorch" / f"{name}.py", impl / "tinytorch" / f"{name}.py")
    return impl


def _plain_pytest(impl: Path, tmp: Path) -> dict[str, str]:
    """{'test_02_activations.py::test_x[case]': 'passed' | 'failed' | 'skipped'} from JUnit XML."""
    xml = tmp / f"{impl.name}.xml"
    env = {"TINYTORCH_IMPL": str(impl), "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                    str(public_tests_dir())], env=env, capture_output=True, timeout=600)
    verdicts = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        key = f"{case.get('classname', '').rsplit('.', 1)[-1]}.py::{case.get('name')}"
        kinds = {child.tag for child in case}
        verdicts[key] = ("skipped" if "skipped" in kinds else
                         "failed" if kinds & {"failure", "error"} else "passed")
    return verdicts


PLAIN = {Outcome.PASSED: "passed", Outcome.WAITING: "skipped", Outcome.FAILED: "failed",
         Outcome.NOT_STARTED: "failed", Outcome.ERROR: "failed", Outcome.TIMEOUT: "failed"}


@pytest.mark.parametrize("stub_module", list(CFG.modules))
def test_plain_pytest_and_grade_agree_on_every_prerequisite_hybrid(stub_module: str, tmp_path: Path) -> None:
    impl = _hybrid(tmp_path, stub_module)
    plain = _plain_pytest(impl, tmp_path)
    report = grade(impl, resolve_targets(list(CFG.modules), CFG), cfg=CFG, hidden=False)
    graded = {r.nodeid: PLAIN[r.outcome] for r in report.rows if r.nodeid}
    assert not report.session_errors, [r.reason for r in report.session_errors]
    assert plain and set(plain) == set(graded), sorted(set(plain) ^ set(graded))[:5]
    disagree = {k: (plain[k], graded[k]) for k in plain if plain[k] != graded[k]}
    assert not disagree, disagree
    for number in CFG.modules:
        rows = [r for r in report.rows if r.module == number]
        if not COURSE.needs(number, stub_module):  # Module NN and its prerequisites are done
            assert all_passed(rows), (
                f"Module {stub_module} left as a stub: `grader check {number}` should pass; got "
                f"{[(r.title, r.outcome.value, r.reason) for r in rows if r.outcome is not Outcome.PASSED][:3]}")
        elif number == stub_module:
            assert not all_passed(rows), f"Module {number} is a stub, yet `grader check {number}` passes"
        waiting = [r for r in rows if r.outcome is Outcome.WAITING]
        assert all(f"Module {stub_module}" in r.reason for r in waiting)


def test_grader_check_02_passes_while_autograd_is_still_a_stub(tmp_path: Path, capsys) -> None:
    """The course's promise: Activations done, Autograd not started -> `grader check 02` is green."""
    impl = _hybrid(tmp_path, "06")
    assert main(["check", "02", "--impl", str(impl)]) == 0
    out = capsys.readouterr().out
    assert "waiting" in out and "Module 06" in out and "Next in course order: Module 03" in out
