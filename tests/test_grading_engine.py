"""The grading engine end to end: the reference earns full marks, the stubs earn 0 with
"not started", points agree with the config, the CLI's exit codes and Gradescope's schema."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.cli import main
from grader.config import load_config
from grader.engine.grade import grade
from grader.export.results_json import results_json
from grader.core.outcomes import Outcome, Source, Visibility
from grader.engine.grade import base_context
from grader.engine.sessions import SessionSpec, run_session
from grader.core.targets import UnknownTarget, resolve_targets
from grader.paths import assignments_dir, hidden_tests_dir, solutions_dir

CFG = load_config()
PASSED, FAILED, NOT_STARTED, WAITING = Outcome.PASSED, Outcome.FAILED, Outcome.NOT_STARTED, Outcome.WAITING


def run_pytest(files: list[Path], *, impl: Path, source: Source = Source.HIDDEN, per_test: float = 60,
               session: float = 120):
    """One test session as `grade` runs it (a plain subprocess), with the kit's config."""
    spec = SessionSpec("hidden tests" if source is Source.HIDDEN else "public tests", tuple(files), source,
                       per_test, session)
    return run_session(spec, base_context(impl, CFG))


def _marker_points(path: Path) -> float:
    """Sum of @pytest.mark.points over a test file, counting parametrized cases."""
    total = 0.0
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
            continue
        points, cases = 0.0, 1
        for dec in node.decorator_list:
            if isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute):
                if dec.func.attr == "points":
                    points = float(ast.literal_eval(dec.args[0]))
                if dec.func.attr == "parametrize":
                    cases *= len(ast.literal_eval(dec.args[1]))
        total += points * cases
    return total


@pytest.mark.parametrize("module", list(CFG.modules) + ["milestone03"])
def test_hidden_test_points_sum_to_the_config(module: str) -> None:
    files = sorted(hidden_tests_dir().glob(f"test_{module}*.py"))
    assert files, f"no hidden tests for {module}"
    expected = CFG.modules[module].points if module in CFG.modules else CFG.milestone_hidden_points
    assert sum(_marker_points(f) for f in files) == pytest.approx(expected)


def test_config_totals_100_points() -> None:
    assert CFG.total_points == 100


@pytest.mark.parametrize("words,modules,milestone", [
    (["01"], ("01",), False), (["autograd"], ("06",), False), (["6"], ("06",), False),
    (["milestone03"], (), True), (["all"], tuple(CFG.modules), True), (["08", "01"], ("01", "08"), False),
])
def test_targets_resolve(words, modules, milestone) -> None:
    t = resolve_targets(words, CFG)
    assert (t.modules, t.milestone) == (modules, milestone)


def test_unknown_target_suggests_the_closest_name() -> None:
    with pytest.raises(UnknownTarget, match="Did you mean 'autograd'"):
        resolve_targets(["autograf"], CFG)


def test_cli_usage_errors_exit_2(capsys) -> None:
    assert main(["check", "optimiser"]) == 2
    assert "Did you mean" in capsys.readouterr().err
    assert main(["check", "01", "--impl", "/nonexistent"]) == 2
    assert main(["frobnicate"]) == 2


def test_stubs_score_zero_with_not_started_everywhere() -> None:
    report = grade(assignments_dir(), resolve_targets(["all"], CFG), cfg=CFG, hidden=True, public=False,
                   loaders={"tinydigits": _tinydigits, "mnist": _tinydigits_as_mnist})
    assert report.score == 0
    module_rows = [r for r in report.rows if r.module in CFG.modules]
    assert module_rows and all(r.outcome == NOT_STARTED for r in module_rows), \
        [(r.module, r.title, r.outcome, r.reason) for r in module_rows if r.outcome != NOT_STARTED]
    assert all(r.reason.startswith("not started: Module") for r in module_rows)
    assert "Traceback" not in json.dumps(results_json(report))


def _tinydigits():
    from grader.datasets import load_tinydigits
    return load_tinydigits()


def _tinydigits_as_mnist():
    raise RuntimeError("MNIST is not needed here")


def test_results_json_follows_gradescope_schema(tmp_path: Path) -> None:
    report = grade(solutions_dir(), resolve_targets(["07"], CFG), cfg=CFG, hidden=True, public=True)
    data = results_json(report)
    assert data["score"] == CFG.modules["07"].points
    assert {"score", "tests", "execution_time"} <= set(data)
    for test in data["tests"]:
        assert {"name", "score", "max_score", "status", "visibility", "output"} <= set(test)
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    assert sum(t["max_score"] for t in data["tests"]) == CFG.modules["07"].points


def test_check_exit_codes_and_json_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    ok = subprocess.run([sys.executable, "-m", "grader.cli", "check", "05", "--impl", "solutions", "--hidden",
                         "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(out.read_text())["score"] == CFG.modules["05"].points
    assert "Next:" in ok.stdout and "Next in course order: Module 06" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "grader.cli", "check", "05"], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1
    assert "not started" in bad.stdout and "Traceback" not in bad.stdout + bad.stderr
    assert "implement" in bad.stdout.split("Next:")[1]


def test_plugin_records_titles_points_and_outcomes(tmp_path: Path) -> None:
    (tmp_path / "tinytorch").mkdir()
    (tmp_path / "tinytorch" / "__init__.py").write_text("")
    tests = tmp_path / "t"
    tests.mkdir()
    (tests / "test_03_demo.py").write_text('''
import pytest

@pytest.mark.points(2)
@pytest.mark.visibility("hidden")
def test_a():
    """Passing test title"""

@pytest.mark.points(1.5)
def test_b():
    """Failing test title"""
    raise AssertionError("Module 03 · Linear forward: off by 1")

def test_c():
    raise NotImplementedError("Module 03: Linear forward")

def test_d():
    pytest.skip("waiting for Module 06")
''')
    rows = run_pytest([tests / "test_03_demo.py"], impl=tmp_path)
    got = [(r.module, r.title, r.points, r.visibility, r.outcome) for r in rows]
    assert got == [("03", "Passing test title", 2.0, Visibility.HIDDEN, PASSED),
                   ("03", "Failing test title", 1.5, Visibility.VISIBLE, FAILED),
                   ("03", "c", None, Visibility.VISIBLE, NOT_STARTED),
                   ("03", "d", None, Visibility.VISIBLE, WAITING)]
    assert rows[1].reason == "Module 03 · Linear forward: off by 1"
    assert rows[2].reason == "not started: Module 03: Linear forward"


def test_a_test_session_that_dies_is_reported_not_lost(tmp_path: Path) -> None:
    tests = tmp_path / "t"
    tests.mkdir()
    (tests / "test_01_dies.py").write_text("import os\ndef test_x():\n    os._exit(0)\n")
    rows = run_pytest([tests / "test_01_dies.py"], impl=solutions_dir(), source=Source.PUBLIC)
    assert len(rows) == 1 and rows[0].outcome is Outcome.ERROR and rows[0].source is Source.SESSION
    assert "ended early" in rows[0].reason and "test_x" in rows[0].reason


@pytest.mark.slow
def test_reference_gets_full_marks_on_everything_including_mnist() -> None:
    report = grade(solutions_dir(), resolve_targets(["all"], CFG), cfg=CFG, hidden=True, public=False)
    wrong = [(r.module, r.title, r.reason) for r in report.rows if r.outcome != PASSED]
    assert not wrong, wrong
    assert report.score == report.max_score == CFG.total_points
    assert report.milestone_runs["mnist"].test_accuracy >= 0.97
    assert report.milestone_runs["tinydigits"].test_accuracy >= 0.90


def test_a_broken_submodule_costs_only_the_modules_that_need_it(tmp_path: Path) -> None:
    """A syntax error in optim.py: Modules 07 and 08 score 0 and show the import error; 01 is still graded."""
    import shutil
    shutil.copytree(solutions_dir() / "tinytorch", tmp_path / "tinytorch")
    with open(tmp_path / "tinytorch" / "optim.py", "a") as fh:
        fh.write("\ndef broken(:\n")
    report = grade(tmp_path, resolve_targets(["01", "07", "08"], CFG), cfg=CFG, hidden=True, public=False)
    by_module = {m: [r for r in report.rows if r.module == m] for m in ("01", "07", "08")}
    assert all(r.outcome == PASSED for r in by_module["01"])
    for module in ("07", "08"):
        assert by_module[module] and all(r.outcome == FAILED for r in by_module[module])
        assert all("SyntaxError" in r.reason and "optim.py" in r.reason for r in by_module[module])
    assert report.score == CFG.modules["01"].points


def test_a_test_file_that_cannot_be_collected_becomes_an_error_row(tmp_path: Path) -> None:
    tests = tmp_path / "t"
    tests.mkdir()
    (tests / "test_04_broken.py").write_text("import nonexistent_module_for_grader\n")
    rows = run_pytest([tests / "test_04_broken.py"], impl=solutions_dir())
    assert [(r.module, r.outcome, r.source) for r in rows] == [("04", Outcome.ERROR, Source.HIDDEN)]
    assert "nonexistent_module_for_grader" in rows[0].reason
